package nomad

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
)

// OutputEndVar is the task environment variable through which runBatch hands a batch task
// its end-of-output marker. A task that honours it (the release command's wrapper in
// jobspecs/release.nomad.hcl, wharf-builder) runs its work, writes the marker as a line
// of its own on stdout and on stderr, and then waits (a minute at most) for a SIGTERM
// before it exits with the work's exit code.
//
// Why: Nomad 1.6 can drop the last lines a task writes. Its docker driver stops the
// task's log collector the moment the container exits (drivers/docker/handle.go: run
// defers shutdownLogger, which cancels the Docker log stream), and logmon closes its
// pipes when the task's stop hooks run; under load either can happen before the tail
// reached the log files. No reading of the files afterwards can find lines that never
// reached them. With the marker, the task is still running while its output is read, and
// wharfd knows it has read everything when it sees the marker on both streams.
const OutputEndVar = "WHARF_OUTPUT_END"

// How long runBatch keeps reading a task that ended without its end marker (one that
// does not honour OutputEndVar, or died): until its streams end, or go quiet for
// batchQuiet after the end was seen, and never longer than batchDrain.
const (
	batchQuiet = time.Second
	batchDrain = 5 * time.Second
)

// newOutputEnd returns a fresh end-of-output marker: a task's output can contain it only
// by reading it from the task's own environment.
func newOutputEnd() string {
	var b [16]byte
	rand.Read(b[:])
	return "wharf-output-end-" + hex.EncodeToString(b[:])
}

// runBatch registers a batch job of one task, hands every line the task writes to emit
// (stdout and stderr, as they come), waits until its allocation ends, and returns that
// allocation. It sets the task's OutputEndVar, and a task that honours it loses no line
// (see OutputEndVar). The job is purged afterwards, even when ctx ends first (a cancel, a
// time limit), when ctx's error is returned. emit is called from one goroutine at a time.
func (c *Client) runBatch(ctx context.Context, region string, job *nomadapi.Job, task string, emit func(stream, line string)) (*nomadapi.Allocation, error) {
	id := *job.ID
	end := newOutputEnd()
	for _, g := range job.TaskGroups {
		for _, t := range g.Tasks {
			if t.Name == task {
				if t.Env == nil {
					t.Env = map[string]string{}
				}
				t.Env[OutputEndVar] = end
			}
		}
	}
	if _, _, err := c.api.Jobs().Register(job, c.write(ctx, region)); err != nil {
		return nil, translate(err, "register job "+id)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.api.Jobs().Deregister(id, true, c.write(dctx, region))
	}()

	var mu sync.Mutex
	last := time.Now()
	emitLine := func(stream string) func(string) {
		return func(l string) {
			mu.Lock()
			defer mu.Unlock()
			last = time.Now()
			emit(stream, l)
		}
	}
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	var wg sync.WaitGroup
	marked := make(chan struct{}, 2) // one value per stream that reached its marker
	streaming := false
	stream := func(alloc *nomadapi.Allocation, follow bool) {
		streaming = true
		for _, s := range []string{"stdout", "stderr"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if c.readTask(streamCtx, region, alloc, task, s, follow, end, emitLine(s)) {
					marked <- struct{}{}
				}
			}()
		}
	}

	// Watch the allocation; the watch runs in its own goroutine so the streams' markers
	// can be answered while a blocking query is open.
	type state struct {
		stub *nomadapi.AllocationListStub
		err  error
	}
	states := make(chan state, 1)
	go func() {
		var index uint64
		for streamCtx.Err() == nil {
			q := c.query(streamCtx, region)
			q.WaitIndex, q.WaitTime = index, 5*time.Second
			stubs, meta, err := c.api.Jobs().Allocations(id, true, q)
			if err != nil {
				select {
				case states <- state{err: err}:
				case <-streamCtx.Done():
				}
				return
			}
			index = meta.LastIndex
			if len(stubs) == 0 {
				continue
			}
			select {
			case states <- state{stub: stubs[0]}:
			case <-streamCtx.Done():
				return
			}
		}
	}()

	var alloc *nomadapi.Allocation
	markers, signalled := 0, false
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-marked:
			markers++
			if markers == 2 && !signalled && alloc != nil {
				// Everything the task wrote has been read: let it exit.
				signalled = true
				for try := 0; try < 3; try++ {
					if c.api.Allocations().Signal(alloc, c.query(ctx, region), task, "SIGTERM") == nil {
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
			continue
		case st := <-states:
			if st.err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, translate(st.err, "watch job "+id)
			}
			s := st.stub
			terminal := s.ClientStatus != nomadapi.AllocClientStatusPending && s.ClientStatus != nomadapi.AllocClientStatusRunning
			if !streaming && s.ClientStatus == nomadapi.AllocClientStatusRunning {
				if a, _, err := c.api.Allocations().Info(s.ID, c.query(ctx, region)); err == nil {
					alloc = a
					stream(alloc, true)
				}
			}
			if !terminal {
				continue
			}
			final, _, err := c.api.Allocations().Info(s.ID, c.query(ctx, region))
			if err != nil {
				return nil, translate(err, "read allocation of "+id)
			}
			if !streaming {
				// It ended before it was seen running: read what reached its files.
				stream(final, false)
			}
			c.drain(&wg, &mu, &last, markers, marked, stopStreams)
			return final, nil
		}
	}
}

// drain waits for a batch task's streams after its allocation ended: at once when both
// reached their markers; otherwise until they end, or go quiet for batchQuiet, and at
// most batchDrain; then stops them.
func (c *Client) drain(wg *sync.WaitGroup, mu *sync.Mutex, last *time.Time, markers int, marked chan struct{}, stop context.CancelFunc) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	mu.Lock()
	*last = time.Now()
	mu.Unlock()
	deadline := time.Now().Add(batchDrain)
	for markers < 2 {
		mu.Lock()
		quiet := time.Since(*last) > batchQuiet
		mu.Unlock()
		if quiet || time.Now().After(deadline) {
			break
		}
		select {
		case <-done:
			return
		case <-marked:
			markers++
		case <-time.After(100 * time.Millisecond):
		}
	}
	stop()
	<-done
}

// readTask hands each line of one of a task's streams to emit, from the start, until the
// line end (which it does not emit; it returns true then), the stream's end, or ctx's.
// With follow, it waits for new output and starts again where it was when the stream
// breaks off before ctx ends.
func (c *Client) readTask(ctx context.Context, region string, alloc *nomadapi.Allocation, task, stream string, follow bool, end string, emit func(string)) bool {
	lines := &lineSplitter{emit: emit, end: end}
	var offset int64
	for ctx.Err() == nil {
		var found bool
		if offset, found = c.readPass(ctx, region, alloc, task, stream, follow, offset, lines); found {
			return true
		}
		if !follow {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	lines.flush()
	return false
}
