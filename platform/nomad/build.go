package nomad

import (
	"context"
	"strings"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/jobspecs"
	"github.com/wharf-platform/wharf/platform"
)

// RunBuild runs one build job on the cloudspace's builder nodes: wharf-builder with the
// spec at specURL. It hands every line the build writes to emit as it comes, waits until
// the job ends, and purges it. When ctx ends first (a cancel, a time limit) the job is
// stopped and ctx's error returned. Errors: invalid, unavailable, ctx's.
func (c *Client) RunBuild(ctx context.Context, t platform.Target, build, specURL, specDigest string, emit func(line string)) (platform.BuildResult, error) {
	region := t.Cloudspace.Region
	id := t.AppRef().BuildJobID(build)
	job, err := jobspecs.Render(ctx, c, id, jobspecs.BuildVars{
		Region: region, Datacenters: c.runtime.Datacenters, NodePool: t.Cloudspace.NodePool,
		Builder: c.runtime.Builder, SpecURL: specURL, SpecDigest: specDigest, Network: c.runtime.BuildNetwork,
		Meta: map[string]string{"wharf_org": t.Org, "wharf_app": t.App, "wharf_build": build},
	})
	if err != nil {
		return platform.BuildResult{}, err
	}
	var res platform.BuildResult
	alloc, err := c.runBatch(ctx, region, job, "build", func(_, l string) {
		if img, ok := strings.CutPrefix(l, "wharf-builder: image "); ok {
			res.Image = strings.TrimSpace(img)
		}
		if commit, ok := strings.CutPrefix(l, "wharf-builder: commit "); ok {
			res.Commit = strings.TrimSpace(commit)
		}
		emit(l)
	})
	if err != nil {
		return res, err
	}
	res.Failed = alloc.ClientStatus != nomadapi.AllocClientStatusComplete || res.Image == ""
	if res.Failed {
		res.Reason = "the build failed; see its log"
		if st := alloc.TaskStates["build"]; st != nil {
			for _, ev := range st.Events {
				if ev.Type == nomadapi.TaskDriverFailure || ev.Type == nomadapi.TaskSetupFailure {
					res.Reason = ev.DisplayMessage
				}
			}
		}
	}
	return res, nil
}
