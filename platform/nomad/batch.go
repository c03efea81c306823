package nomad

import (
	"context"
	"sync"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
)

// runBatch registers a batch job of one task, hands every line the task writes to emit
// (stdout and stderr, as they come), waits until its allocation ends, and returns that
// allocation. The job is purged afterwards, even when ctx ends first (a cancel, a time
// limit), when ctx's error is returned. emit is called from one goroutine at a time.
func (c *Client) runBatch(ctx context.Context, region string, job *nomadapi.Job, task string, emit func(stream, line string)) (*nomadapi.Allocation, error) {
	id := *job.ID
	if _, _, err := c.api.Jobs().Register(job, c.write(ctx, region)); err != nil {
		return nil, translate(err, "register job "+id)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.api.Jobs().Deregister(id, true, c.write(dctx, region))
	}()

	var mu sync.Mutex
	lines, last := 0, time.Now()
	line := func(stream string) func(string) {
		return func(l string) {
			mu.Lock()
			defer mu.Unlock()
			lines, last = lines+1, time.Now()
			emit(stream, l)
		}
	}
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	var wg sync.WaitGroup
	streaming := false
	stream := func(alloc *nomadapi.Allocation, follow bool) {
		for _, s := range []string{"stdout", "stderr"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.streamTask(streamCtx, region, alloc, task, s, follow, line(s))
			}()
		}
	}
	var index uint64
	for {
		q := c.query(ctx, region)
		q.WaitIndex, q.WaitTime = index, 5*time.Second
		stubs, meta, err := c.api.Jobs().Allocations(id, true, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, translate(err, "watch job "+id)
		}
		index = meta.LastIndex
		if len(stubs) == 0 {
			continue
		}
		s := stubs[0]
		terminal := s.ClientStatus != nomadapi.AllocClientStatusPending && s.ClientStatus != nomadapi.AllocClientStatusRunning
		if !streaming && s.ClientStatus == nomadapi.AllocClientStatusRunning {
			if alloc, _, err := c.api.Allocations().Info(s.ID, c.query(ctx, region)); err == nil {
				streaming = true
				stream(alloc, true)
			}
		}
		if !terminal {
			continue
		}
		alloc, _, err := c.api.Allocations().Info(s.ID, c.query(ctx, region))
		if err != nil {
			return nil, translate(err, "read allocation of "+id)
		}
		if !streaming {
			// It ended before it was seen running: read what it wrote. Its log can
			// reach the client's files a moment after the task ends, so an empty read
			// is tried again, briefly.
			for try := 0; try < 4; try++ {
				stream(alloc, false)
				wg.Wait()
				mu.Lock()
				n := lines
				mu.Unlock()
				if n > 0 {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			return alloc, nil
		}
		// Followed: let the streams take the last lines (until they end, or go quiet for
		// a second after the end was seen), then stop them.
		mu.Lock()
		last = time.Now()
		mu.Unlock()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		for deadline := time.Now().Add(5 * time.Second); ; {
			mu.Lock()
			quiet := time.Since(last) > time.Second
			mu.Unlock()
			if quiet || time.Now().After(deadline) {
				break
			}
			select {
			case <-done:
				return alloc, nil
			case <-time.After(100 * time.Millisecond):
			}
		}
		stopStreams()
		<-done
		return alloc, nil
	}
}
