// Command bench measures Wharf's ingress beside a bare httputil.ReverseProxy, Debian's
// HAProxy and Caddy, all on loopback, and prints ratios (issue 6's goals):
//
//   - CPU per request: each proxy runs alone on CPU 1 while the load generator and the
//     backend share CPU 0. It prints the proxy process's own CPU time per request (from
//     /proc) and the 1/rps(through it) − 1/rps(direct);
//   - latency percentiles at a fixed request rate (open loop, so a stall counts);
//   - route propagation p50/p99 with 10 and 1,000 routed services against a real Consul:
//     an instance's check turning critical until the ingress drops it, turning passing
//     until it routes it again, and a new route record until its host routes.
//
// Run it from the repository root (make bench runs it):
//
//	go run ./ingress/bench [-duration 3s] [-rate 1000] [-samples 40]
//
// It needs taskset, haproxy and caddy (apt-get install haproxy caddy; their system
// services stopped), and the Consul binary scripts/deps.sh builds. Every load targets
// 127.0.0.1 and is bounded in time; it stops by itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharf-platform/wharf/ingress"
)

const benchHost = "app-live.bench.test"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "backend":
			serveBackend(os.Args[2])
			return
		case "bare":
			serveBare(os.Args[2], os.Args[3])
			return
		case "wharf":
			serveWharf(os.Args[2], os.Args[3], len(os.Args) > 4 && os.Args[4] == "log")
			return
		}
	}
	home, _ := os.UserHomeDir()
	duration := flag.Duration("duration", 3*time.Second, "how long each closed-loop and fixed-rate run lasts")
	conns := flag.Int("conns", 32, "concurrent connections of the closed-loop load")
	rounds := flag.Int("rounds", 2, "rounds over every proxy; each figure is the best round's (the machine is shared)")
	rate := flag.Int("rate", 1000, "requests per second of the fixed-rate load")
	samples := flag.Int("samples", 40, "propagation samples of each kind")
	binDir := flag.String("bin-dir", filepath.Join(home, ".cache", "wharf", "bin"), "where scripts/deps.sh put the agents")
	skipProxies := flag.Bool("skip-proxies", false, "measure only propagation")
	skipPropagation := flag.Bool("skip-propagation", false, "measure only the proxies")
	flag.Parse()
	if os.Getenv("WHARF_BENCH_PINNED") == "" {
		// Re-run pinned to CPU 0, so the load generator never competes with the proxy.
		cmd := exec.Command("taskset", append([]string{"-c", "0", os.Args[0]}, os.Args[1:]...)...)
		cmd.Env = append(os.Environ(), "WHARF_BENCH_PINNED=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if !*skipProxies {
		if err := benchProxies(*duration, *conns, *rate, *rounds); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if !*skipPropagation {
		if err := benchPropagation(*binDir, *samples); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// serveBackend answers every request with a small body: the application.
func serveBackend(addr string) {
	body := []byte("ok\n")
	http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
}

// serveBare is the baseline: a bare httputil.ReverseProxy to one backend.
func serveBare(addr, backend string) {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = backend
			pr.SetXForwarded()
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 256},
	}
	http.ListenAndServe(addr, rp)
}

// serveWharf is Wharf's proxy with one route, fed directly (the request path is the
// same whatever feeds the table).
func serveWharf(addr, backend string, accessLog bool) {
	cfg := ingress.Config{}
	if accessLog {
		cfg.AccessLog = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	p := ingress.New(cfg)
	updates := make(chan ingress.Update, 2)
	updates <- ingress.RoutesUpdate{Routes: []ingress.Route{{Version: ingress.RouteVersion, Cloudspace: "local", App: "app", Env: "live",
		Hosts: []string{benchHost}, Primary: benchHost, Service: "app-live-web"}}}
	updates <- ingress.InstancesUpdate{Service: "app-live-web", Instances: []ingress.Instance{{ID: "1", Addr: backend}}}
	go p.Run(context.Background(), updates)
	http.ListenAndServe(addr, p)
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a child process pinned to a CPU.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string
}

func start(name, cpu, addr string, env []string, args ...string) (*proc, error) {
	cmd := exec.Command("taskset", append([]string{"-c", cpu}, args...)...)
	cmd.Env = append(append(os.Environ(), "WHARF_BENCH_PINNED=1"), env...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if name == "caddy" {
		cmd.Stderr = io.Discard
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, addr: addr}
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = benchHost
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s never answered 200 at %s: %v", name, addr, err)
		}
	}
}

func (p *proc) stop() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// cpu returns the process's user+system CPU time so far.
func (p *proc) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

type result struct {
	name         string
	rps          float64
	cpuPerReq    time.Duration // the proxy process's CPU per request
	p50, p99     time.Duration
	fixedErrors  int64
	closedErrors int64
}

func client(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, MaxConnsPerHost: conns * 2, IdleConnTimeout: time.Minute,
	}}
}

func do(c *http.Client, url string) error {
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = benchHost
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// closedLoop sends requests from conns clients, each sending its next when its last is
// answered, for d after a warm-up; it returns the rate and the proxy's CPU per request.
func closedLoop(p *proc, conns int, d time.Duration) (rps float64, cpuPerReq time.Duration, errs int64) {
	c := client(conns)
	url := "http://" + p.addr + "/"
	var n, bad atomic.Int64
	var counting atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := do(c, url)
				if counting.Load() {
					if err != nil {
						bad.Add(1)
					} else {
						n.Add(1)
					}
				}
			}
		}()
	}
	time.Sleep(d / 5) // warm-up
	cpu0, t0 := p.cpu(), time.Now()
	counting.Store(true)
	time.Sleep(d)
	counting.Store(false)
	elapsed, cpu := time.Since(t0), p.cpu()-cpu0
	close(stop)
	wg.Wait()
	c.CloseIdleConnections()
	if n.Load() == 0 {
		return 0, 0, bad.Load()
	}
	return float64(n.Load()) / elapsed.Seconds(), cpu / time.Duration(n.Load()), bad.Load()
}

// fixedRate sends rate requests a second for d, each at its scheduled time whatever
// the others do, and returns latency percentiles measured from the scheduled times.
func fixedRate(p *proc, rate int, d time.Duration) (p50, p99 time.Duration, errs int64) {
	c := client(64)
	url := "http://" + p.addr + "/"
	total := int(float64(rate) * d.Seconds())
	lat := make([]time.Duration, total)
	var bad atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 512)
	start := time.Now()
	for i := range total {
		at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
		time.Sleep(time.Until(at))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := do(c, url); err != nil {
				bad.Add(1)
			}
			lat[i] = time.Since(at)
		}()
	}
	wg.Wait()
	c.CloseIdleConnections()
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], bad.Load()
}

func benchProxies(d time.Duration, conns, rate, rounds int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	backendAddr := freeAddr()
	backend, err := start("backend", "0", backendAddr, nil, self, "backend", backendAddr)
	if err != nil {
		return err
	}
	defer backend.stop()
	dir, err := os.MkdirTemp("", "wharf-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	type candidate struct {
		name  string
		start func(addr string) (*proc, error)
	}
	candidates := []candidate{
		{"direct", func(string) (*proc, error) { return backend, nil }},
		{"bare httputil", func(a string) (*proc, error) { return start("bare", "1", a, nil, self, "bare", a, backendAddr) }},
		{"wharf", func(a string) (*proc, error) { return start("wharf", "1", a, nil, self, "wharf", a, backendAddr) }},
		{"wharf+access log", func(a string) (*proc, error) {
			return start("wharf", "1", a, nil, self, "wharf", a, backendAddr, "log")
		}},
		{"haproxy", func(a string) (*proc, error) {
			cfg := filepath.Join(dir, "haproxy.cfg")
			os.WriteFile(cfg, []byte(fmt.Sprintf(`global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  option forwardfor
frontend fe
  bind %s
  acl app hdr(host) -i %s
  use_backend app if app
backend app
  http-reuse always
  server s1 %s
`, a, benchHost, backendAddr)), 0o600)
			return start("haproxy", "1", a, nil, "haproxy", "-db", "-f", cfg)
		}},
		{"caddy", func(a string) (*proc, error) {
			cfg := filepath.Join(dir, "Caddyfile")
			_, port, _ := net.SplitHostPort(a)
			os.WriteFile(cfg, []byte(fmt.Sprintf(`{
	admin off
	auto_https off
	http_port %s
}
http://%s:%s {
	bind 127.0.0.1
	reverse_proxy %s
}
`, port, benchHost, port, backendAddr)), 0o600)
			// Caddy saves its configuration under $XDG_CONFIG_HOME: keep it in dir.
			return start("caddy", "1", a, []string{"XDG_CONFIG_HOME=" + dir, "XDG_DATA_HOME=" + dir}, "caddy", "run", "--config", cfg, "--adapter", "caddyfile")
		}},
	}
	fmt.Printf("Proxies on CPU 1, load generator and backend on CPU 0 (%d CPUs; Go %s).\n", runtime.NumCPU(), runtime.Version())
	fmt.Printf("Closed loop: %d connections for %s. Fixed rate: %d requests/s for %s.\n", conns, d, rate, d)
	fmt.Printf("%d rounds over all proxies, interleaved; each figure is the best round's, since other work shares the machine.\n\n", rounds)
	best := map[string]*result{}
	var order []string
	for round := range rounds {
		for _, cand := range candidates {
			p, err := cand.start(freeAddr())
			if err != nil {
				if round == 0 {
					fmt.Printf("%-18s skipped: %v\n", cand.name, err)
				}
				continue
			}
			r := result{name: cand.name}
			r.rps, r.cpuPerReq, r.closedErrors = closedLoop(p, conns, d)
			r.p50, r.p99, r.fixedErrors = fixedRate(p, rate, d)
			if p != backend {
				p.stop()
			}
			b := best[cand.name]
			if b == nil {
				best[cand.name] = &r
				order = append(order, cand.name)
				continue
			}
			b.rps = max(b.rps, r.rps)
			if r.cpuPerReq > 0 {
				b.cpuPerReq = min(b.cpuPerReq, r.cpuPerReq)
			}
			if r.p99 < b.p99 {
				b.p50, b.p99 = r.p50, r.p99
			}
			b.closedErrors += r.closedErrors
			b.fixedErrors += r.fixedErrors
		}
	}
	var results []result
	for _, name := range order {
		results = append(results, *best[name])
	}
	var direct, bare, caddy, wharf *result
	for i := range results {
		switch results[i].name {
		case "direct":
			direct = &results[i]
		case "bare httputil":
			bare = &results[i]
		case "caddy":
			caddy = &results[i]
		case "wharf":
			wharf = &results[i]
		}
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	marginal := func(r *result) float64 {
		if direct == nil || r.rps == 0 {
			return 0
		}
		return 1e6/r.rps - 1e6/direct.rps
	}
	fmt.Printf("%-18s %9s %14s %16s %10s %10s %10s %8s\n", "", "rps", "proxy CPU/req", "1/rps-1/direct", "p50", "p99", "p99/bare", "errors")
	for i := range results {
		r := &results[i]
		cpu, ratio := "-", "-"
		if r.name != "direct" {
			cpu = fmt.Sprintf("%.1f µs", us(r.cpuPerReq))
		}
		if bare != nil && bare.p99 > 0 {
			ratio = fmt.Sprintf("%.2f", float64(r.p99)/float64(bare.p99))
		}
		fmt.Printf("%-18s %9.0f %14s %13.1f µs %10s %10s %10s %8d\n", r.name, r.rps, cpu, marginal(r),
			r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), ratio, r.closedErrors+r.fixedErrors)
	}
	fmt.Println()
	if wharf != nil && bare != nil {
		fmt.Printf("CPU per request, wharf ÷ bare httputil: %.2f by process CPU, %.2f by 1/rps−1/rps_direct (goal ≤ 1.25)\n",
			float64(wharf.cpuPerReq)/float64(bare.cpuPerReq), marginal(wharf)/marginal(bare))
	}
	if wharf != nil && caddy != nil {
		fmt.Printf("CPU per request, wharf ÷ caddy:         %.2f by process CPU, %.2f by 1/rps−1/rps_direct (goal < 1)\n",
			float64(wharf.cpuPerReq)/float64(caddy.cpuPerReq), marginal(wharf)/marginal(caddy))
	}
	fmt.Println()
	return nil
}
