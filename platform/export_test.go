package platform

import "context"

// Forget exposes forget, which deleting an environment ends with, to tests that run it
// against a real store without a scheduler.
func (d *Deployer) Forget(ctx context.Context, org, app, env string) error {
	return d.forget(ctx, org, app, env)
}
