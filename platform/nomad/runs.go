package nomad

import (
	"context"

	"github.com/wharf-platform/wharf/jobspecs"
	"github.com/wharf-platform/wharf/platform"
)

var _ platform.RunRunner = (*Client)(nil)

// RunCommand runs a one-off command as a batch job of release.nomad.hcl (the release
// command's template: no restart, no reschedule, the end-of-output marker) in rel's
// image, reading version of the environment's run configuration (EnvRef.RunsPath, the
// release's configuration with the command) instead of the release's own. Each line is
// handed to emit; the job is purged afterwards. Errors: invalid, unavailable, and ctx's
// error (the job is stopped then).
func (c *Client) RunCommand(ctx context.Context, t platform.Target, rel platform.Release, runID string, version int, emit func(stream, line string)) (platform.ReleaseCommandResult, error) {
	common := c.common(t, rel)
	common.RuntimePath = "secret/data/" + t.RunsPath()
	common.RuntimeVersion = version
	common.Meta["wharf_run"] = runID
	job, err := jobspecs.Render(ctx, c, t.RunJobID(runID), jobspecs.ReleaseVars{Common: common, Process: "run", MemoryMB: runMemory(rel)})
	if err != nil {
		return platform.ReleaseCommandResult{}, err
	}
	alloc, err := c.runBatch(ctx, t.Cloudspace.Region, job, "release", emit)
	if err != nil {
		return platform.ReleaseCommandResult{}, err
	}
	return batchResult(alloc, "release"), nil
}

// runMemory is a one-off command's memory: its release's web process's (a console or a
// migration needs what the application needs), or the template's default.
func runMemory(rel platform.Release) int {
	if p, ok := rel.Config.Processes["web"]; ok {
		return p.MemoryMB
	}
	return 0
}
