package nomad

import (
	"context"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/platform"
)

var _ platform.Execer = (*Client)(nil)

// execTask is the task of every process group of web.nomad.hcl.
const execTask = "app"

// Exec runs s's command in the task of allocation instanceID, which must be one of the
// environment's service job's and running, through Nomad's alloc exec (a WebSocket to
// the client that runs it), and returns its exit code. Errors: not_found, unavailable,
// and ctx's error.
func (c *Client) Exec(ctx context.Context, t platform.Target, instanceID string, s platform.ExecSession) (int, error) {
	region := t.Cloudspace.Region
	alloc, _, err := c.api.Allocations().Info(instanceID, c.query(ctx, region))
	if err != nil {
		return 0, translate(err, "read instance")
	}
	// The instance must be the environment's own: an ID is no authority.
	if alloc.JobID != t.JobID() || alloc.ClientStatus != nomadapi.AllocClientStatusRunning {
		return 0, platform.Errorf(platform.NotFound, "instance %s of %s is not running", instanceID, t.EnvRef)
	}
	var sizes chan nomadapi.TerminalSize
	if s.Resize != nil {
		sizes = make(chan nomadapi.TerminalSize, 1)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case sz, ok := <-s.Resize:
					if !ok {
						return
					}
					select {
					case sizes <- nomadapi.TerminalSize{Height: sz.Height, Width: sz.Width}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	code, err := c.api.Allocations().Exec(ctx, alloc, execTask, s.TTY, s.Command, s.Stdin, s.Stdout, s.Stderr, sizes, c.query(ctx, region))
	if err != nil {
		if ctx.Err() != nil {
			return code, ctx.Err()
		}
		return code, translate(err, "exec in instance")
	}
	return code, nil
}
