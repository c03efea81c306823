package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
)

// BenchmarkBuild measures, on one real local cloudspace, a build's total time through
// Wharf (upload, queue, Nomad batch job, wharf-builder's docker build and push, the
// digest recorded; the registry asking for wharfd's tokens) beside `docker build` and
// `docker push` of the same source run directly (to an open registry), and prints their ratio. Each op builds a source no build has seen (a fresh
// RUN step), three times each way, and reports the medians.
func BenchmarkBuild(b *testing.B) {
	s := agenttest.Stack(b)
	token := bootstrap(b, s)
	w := startWharfd(b, s)
	c := &client{t: b, url: w.URL, token: token}
	c.seedApp(s, "bench")
	const app = "/v1/orgs/acme/apps/bench"
	// Docker's own push goes to a registry of the same make without authentication (the
	// cloudspace's answers only builders, with wharfd's tokens): the baseline is plain
	// docker build and push, as before the registry had token authentication.
	open, err := devstack.StartRegistry(devstack.RegistryConfig{Binary: agenttest.Binaries(b).Registry, DataDir: b.TempDir(), Log: func(_, l string) {}})
	if err != nil {
		b.Fatal(err)
	}
	defer open.Stop()

	var viaWharf, direct []time.Duration
	n := 0
	b.ResetTimer()
	for range b.N {
		for range 3 {
			n++
			files := func(way string) map[string]string {
				return map[string]string{
					"Dockerfile":     dockerfile(fmt.Sprintf("RUN echo %s-%d-%d > /www/build.txt\n", way, n, time.Now().UnixNano())),
					"www/index.html": "bench\n",
				}
			}
			var bld build
			start := time.Now()
			if got := c.upload(app+"/builds", tarball(b, files("wharf")), &bld); got != 202 {
				b.Fatalf("upload = %d", got)
			}
			if _, bld = c.followBuild(app, bld.ID); bld.Status != "succeeded" {
				b.Fatalf("build %s: %s", bld.Status, bld.Error)
			}
			viaWharf = append(viaWharf, time.Since(start))

			dir := b.TempDir()
			for name, content := range files("direct") {
				os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
				os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
			}
			image := fmt.Sprintf("%s/acme/direct:bench-%d", open.Addr, n)
			start = time.Now()
			for _, args := range [][]string{{"build", "--pull=false", "-q", "-t", image, dir}, {"push", "-q", image}} {
				if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
					b.Fatalf("docker %v: %v: %s", args, err, out)
				}
			}
			direct = append(direct, time.Since(start))
			exec.Command("docker", "image", "rm", image).Run()
		}
	}
	b.StopTimer()
	mw, md := median(viaWharf), median(direct)
	b.ReportMetric(float64(mw.Milliseconds()), "wharf-ms")
	b.ReportMetric(float64(md.Milliseconds()), "docker-ms")
	b.ReportMetric(float64(mw)/float64(md), "wharf/docker")
	fmt.Printf("build of one source: through wharf %v, docker build + push %v, ratio %.2f (medians of %d)\n",
		mw.Round(time.Millisecond), md.Round(time.Millisecond), float64(mw)/float64(md), len(viaWharf))
}
