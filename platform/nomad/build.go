package nomad

import (
	"context"
	"strings"
	"sync"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/jobspecs"
	"github.com/wharf-platform/wharf/platform"
)

// BuildJobID is the Nomad job of one build.
func BuildJobID(t platform.Target, build string) string {
	return "wharf-" + t.Org + "-" + t.App + "-build-" + build
}

// RunBuild runs one build job on the cloudspace's builder nodes: wharf-builder with the
// spec at specURL. It hands every line the build writes to emit as it comes, waits until
// the job ends, and purges it. When ctx ends first (a cancel, a time limit) the job is
// stopped and ctx's error returned. Errors: invalid, unavailable, ctx's.
func (c *Client) RunBuild(ctx context.Context, t platform.Target, build, specURL, specDigest string, emit func(line string)) (platform.BuildResult, error) {
	region := t.Cloudspace.Region
	id := BuildJobID(t, build)
	job, err := jobspecs.Render(ctx, c, id, jobspecs.BuildVars{
		Region: region, Datacenters: c.runtime.Datacenters, NodePool: t.Cloudspace.NodePool,
		Builder: c.runtime.Builder, SpecURL: specURL, SpecDigest: specDigest,
		Meta: map[string]string{"wharf_org": t.Org, "wharf_app": t.App, "wharf_build": build},
	})
	if err != nil {
		return platform.BuildResult{}, err
	}
	if _, _, err := c.api.Jobs().Register(job, c.write(ctx, region)); err != nil {
		return platform.BuildResult{}, translate(err, "register build job")
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.api.Jobs().Deregister(id, true, c.write(dctx, region))
	}()

	var res platform.BuildResult
	var mu sync.Mutex
	lastLine := time.Now()
	line := func(l string) {
		mu.Lock()
		defer mu.Unlock()
		lastLine = time.Now()
		if img, ok := strings.CutPrefix(l, "wharf-builder: image "); ok {
			res.Image = strings.TrimSpace(img)
		}
		if commit, ok := strings.CutPrefix(l, "wharf-builder: commit "); ok {
			res.Commit = strings.TrimSpace(commit)
		}
		emit(l)
	}
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	var wg sync.WaitGroup
	streaming := false
	var index uint64
	for {
		q := c.query(ctx, region)
		q.WaitIndex, q.WaitTime = index, 5*time.Second
		stubs, meta, err := c.api.Jobs().Allocations(id, true, q)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, translate(err, "watch build job")
		}
		index = meta.LastIndex
		if len(stubs) == 0 {
			continue
		}
		s := stubs[0]
		if !streaming && s.ClientStatus != nomadapi.AllocClientStatusPending {
			alloc, _, err := c.api.Allocations().Info(s.ID, c.query(ctx, region))
			if err == nil {
				streaming = true
				for _, stream := range []string{"stdout", "stderr"} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c.streamTask(streamCtx, region, alloc, "build", stream, true, line)
					}()
				}
			}
		}
		if s.ClientStatus == nomadapi.AllocClientStatusRunning || s.ClientStatus == nomadapi.AllocClientStatusPending {
			continue
		}
		if !streaming {
			// It ended before it was seen running: read what it wrote, once.
			if alloc, _, err := c.api.Allocations().Info(s.ID, c.query(ctx, region)); err == nil {
				for _, stream := range []string{"stdout", "stderr"} {
					c.streamTask(ctx, region, alloc, "build", stream, false, line)
				}
			}
		}
		// Ended: let the streams take the last lines (until they end, or go quiet for
		// a second), then stop them.
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		for deadline := time.Now().Add(5 * time.Second); ; {
			mu.Lock()
			quiet := time.Since(lastLine) > time.Second
			mu.Unlock()
			if quiet || time.Now().After(deadline) {
				stopStreams()
				<-done
				break
			}
			select {
			case <-done:
			case <-time.After(100 * time.Millisecond):
				continue
			}
			break
		}
		alloc, _, err := c.api.Allocations().Info(s.ID, c.query(ctx, region))
		if err != nil {
			return res, translate(err, "read build allocation")
		}
		mu.Lock()
		defer mu.Unlock()
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
}
