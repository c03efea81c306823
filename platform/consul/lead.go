package consul

import (
	"context"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// Lead runs fn whenever this process holds the Consul lock at key (relative to prefix),
// until ctx ends: work that must happen in one replica at a time (the deploy controller)
// runs inside it. fn's context ends when the lock is lost, for instance when Consul
// cannot be reached for longer than the session's TTL. A replica that dies holding the
// lock loses it when its session expires, within about ten seconds.
func (c *Client) Lead(ctx context.Context, prefix, key string, fn func(context.Context)) error {
	for ctx.Err() == nil {
		lock, err := c.api.LockOpts(&consulapi.LockOptions{
			Key:          prefix + key,
			SessionName:  "wharfd " + key,
			SessionTTL:   "10s",
			LockDelay:    time.Second,
			LockWaitTime: 5 * time.Second,
		})
		if err != nil {
			return translate(err, "make a lock")
		}
		stop := make(chan struct{})
		release := context.AfterFunc(ctx, func() { close(stop) })
		lost, err := lock.Lock(stop)
		release()
		if err != nil || lost == nil {
			// Consul unreachable, or ctx ended while waiting.
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lost:
				cancel()
			case <-lctx.Done():
			}
		}()
		fn(lctx)
		cancel()
		_ = lock.Unlock()
	}
	return ctx.Err()
}
