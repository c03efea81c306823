package nomad

import (
	"context"
	"strings"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/platform"
)

// LegacyJobs lists the region's jobs under legacy names (platform.LegacyJobPrefix), but
// for periodic jobs' children, each read whole for the meta an older wharfd wrote into
// it. Errors: unavailable.
func (c *Client) LegacyJobs(ctx context.Context, region string) ([]platform.LegacyJob, error) {
	stubs, _, err := c.api.Jobs().List((&nomadapi.QueryOptions{Region: region, Prefix: platform.LegacyJobPrefix}).WithContext(ctx))
	if err != nil {
		return nil, translate(err, "list jobs")
	}
	var out []platform.LegacyJob
	for _, s := range stubs {
		if !strings.HasPrefix(s.ID, platform.LegacyJobPrefix) || s.ParentID != "" {
			continue
		}
		job, _, err := c.api.Jobs().Info(s.ID, c.query(ctx, region))
		if err != nil {
			if err = translate(err, "read job"); platform.ErrorCode(err) == platform.NotFound {
				continue // purged since the list
			}
			return nil, err
		}
		lj := platform.LegacyJob{ID: s.ID, Region: region, Type: s.Type, Periodic: s.Periodic,
			Stopped: s.Stop || s.Status == "dead", BackupRole: job.Meta[backupRoleMeta]}
		if o, a, e := job.Meta["wharf_org"], job.Meta["wharf_app"], job.Meta["wharf_env"]; o != "" && a != "" && e != "" {
			lj.Ref = platform.Ref(o, a, e)
		}
		out = append(out, lj)
	}
	return out, nil
}

// StopJob stops and purges the job with exactly this ID; a missing job is no error.
// Errors: unavailable.
func (c *Client) StopJob(ctx context.Context, region, id string) error {
	if _, _, err := c.api.Jobs().Deregister(id, true, c.write(ctx, region)); err != nil {
		if err = translate(err, "stop job"); platform.ErrorCode(err) != platform.NotFound {
			return err
		}
	}
	return nil
}
