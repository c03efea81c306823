package nomad_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
)

var batchRuns = flag.Int("batch-runs", 200, "release commands TestBatchOutputUnderLoad runs")

// TestBatchOutputUnderLoad runs a release command many times while every core is kept
// busy, and checks that each run's output arrived whole: every line of stdout and of
// stderr, in order, the last of them written just before the command exits. Before the
// end-of-output marker (platform/nomad.OutputEndVar), Nomad's docker driver dropped that
// tail under load now and then, which is how TestCLI lost "migrating test" on CI.
func TestBatchOutputUnderLoad(t *testing.T) {
	s := agenttest.Stack(t)
	e := newEnv(t, s, "load")
	const lines = 20
	v := e.runtime(map[string]string{"WHARF_COMMAND_RELEASE": fmt.Sprintf(
		`i=0; while [ $i -lt %d ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done`, lines)})

	// CPU load: a spinning goroutine per core, and one more, until the runs are done.
	loadCtx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	for range runtime.NumCPU() + 1 {
		go func() {
			runtime.LockOSThread()
			for n := 0; loadCtx.Err() == nil; n++ {
				for range 1 << 16 {
					n ^= n << 1
				}
			}
		}()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	runs := make(chan int)
	go func() {
		defer close(runs)
		for n := 1; n <= *batchRuns; n++ {
			select {
			case runs <- n:
			case <-ctx.Done():
				return
			}
		}
	}()
	var mu sync.Mutex
	var lost []string
	done := 0
	start := time.Now()
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range runs {
				rel := e.release(n, v, 0)
				rel.Config.ReleaseCommand = "set"
				got := map[string][]string{}
				var gotMu sync.Mutex
				res, err := e.nc.RunReleaseCommand(ctx, e.target, rel, func(stream, line string) {
					gotMu.Lock()
					got[stream] = append(got[stream], line)
					gotMu.Unlock()
				})
				mu.Lock()
				done++
				if err != nil || res.Failed {
					lost = append(lost, fmt.Sprintf("run %d: %+v %v", n, res, err))
				}
				for stream, word := range map[string]string{"stdout": "out", "stderr": "err"} {
					var want []string
					for i := range lines {
						want = append(want, fmt.Sprintf("%s %d", word, i))
					}
					if strings.Join(got[stream], "\n") != strings.Join(want, "\n") {
						lost = append(lost, fmt.Sprintf("run %d %s: %d lines, last %q", n, stream, len(got[stream]), last(got[stream])))
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d release commands under load in %s; %d with lost output or a failure", done, time.Since(start).Round(time.Second), len(lost))
	if done < *batchRuns {
		t.Errorf("only %d of %d release commands ran", done, *batchRuns)
	}
	for _, l := range lost {
		t.Error(l)
	}
}

func last(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[len(ss)-1]
}
