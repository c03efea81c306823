package platform

import (
	"context"
	"time"
)

// Forget exposes forget, which deleting an environment ends with, to tests that run it
// against a real store without a scheduler.
func (d *Deployer) Forget(ctx context.Context, org, app, env string) error {
	return d.forget(ctx, org, app, env)
}

// RunLostAt exposes Run.lost to tests.
func RunLostAt(r Run, now time.Time) Run { return r.lost(now) }
