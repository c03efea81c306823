package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/ingress"
	"github.com/wharf-platform/wharf/ingress/consul"
	"github.com/wharf-platform/wharf/internal/devstack"
)

// benchPropagation measures how long changes in Consul take to reach the route table,
// with 10 and with 1,000 routed services, each against a fresh Consul.
func benchPropagation(binDir string, samples int) error {
	bins := devstack.DefaultBinaries(binDir)
	if bins.Consul == "" {
		return fmt.Errorf("no consul binary in %s (run make deps)", binDir)
	}
	fmt.Println("Route propagation against a real Consul (Source + Proxy in this process):")
	fmt.Printf("%-9s %-26s %10s %10s %10s\n", "services", "change", "p50", "p99", "max")
	for _, n := range []int{10, 1000} {
		if err := propagation(bins.Consul, n, samples); err != nil {
			return err
		}
	}
	return nil
}

func propagation(consulBin string, n, samples int) error {
	dir, err := os.MkdirTemp("", "wharf-bench-consul")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := devstack.StartConsul(devstack.ConsulConfig{Binary: consulBin, DataDir: dir, Node: fmt.Sprintf("wharf-bench-%d", os.Getpid()), Log: func(string, string) {}})
	if err != nil {
		return err
	}
	defer c.Stop()
	// Services are registered with the operator's token (as Nomad would, with its own),
	// routes written with wharfd's, and followed with the ingress's: ACLs are on, as in
	// every cloudspace, and their filtering is part of what is measured.
	client, err := consulapi.NewClient(&consulapi.Config{Address: c.Addr, Token: c.ManagementToken})
	if err != nil {
		return err
	}
	wharfd, err := consulapi.NewClient(&consulapi.Config{Address: c.Addr, Token: c.WharfdToken})
	if err != nil {
		return err
	}
	ingressClient, err := consulapi.NewClient(&consulapi.Config{Address: c.Addr, Token: c.IngressToken})
	if err != nil {
		return err
	}
	store := consul.NewRouteStore(wharfd, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	host := func(i int) string { return fmt.Sprintf("app%d-live.bench.test", i) }
	svc := func(i int) string { return fmt.Sprintf("app%d-live-web", i) }
	check := func(i int) string { return fmt.Sprintf("app%d-1", i) }
	// Register n services (one passing instance each) and their routes, 8 at a time.
	work := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				err := client.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
					ID: check(i), Name: svc(i), Address: "127.0.0.1", Port: 20000 + i,
					Check: &consulapi.AgentServiceCheck{CheckID: check(i), TTL: "1h", Status: consulapi.HealthPassing},
				})
				if err == nil {
					err = store.Put(ctx, ingress.Route{Cloudspace: "bench", App: fmt.Sprintf("app%d", i), Env: "live",
						Hosts: []string{host(i)}, Primary: host(i), Service: svc(i)}, 0)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}

	p := ingress.New(ingress.Config{})
	src := &consul.Source{Client: ingressClient, Cloudspace: "bench", Log: slog.New(slog.DiscardHandler)}
	updates := make(chan ingress.Update, 64)
	go p.Run(ctx, updates)
	go src.Run(ctx, updates)
	// until waits for cond, polling every 100 µs, and returns how long it took.
	until := func(from time.Time, cond func() bool) (time.Duration, error) {
		for deadline := from.Add(30 * time.Second); !cond(); time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("no propagation within 30 s")
			}
		}
		return time.Since(from), nil
	}
	t0 := time.Now()
	if _, err := until(t0, func() bool {
		for i := range n {
			if len(p.Instances(host(i))) != 1 {
				return false
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("initial load of %d services: %w", n, err)
	}
	initial := time.Since(t0)

	var fail, pass, route []time.Duration
	for s := range samples {
		i := rand.IntN(n)
		h := host(i)
		t := time.Now()
		if err := client.Agent().FailTTL(check(i), ""); err != nil {
			return err
		}
		d, err := until(t, func() bool { return len(p.Instances(h)) == 0 })
		if err != nil {
			return err
		}
		fail = append(fail, d)
		t = time.Now()
		if err := client.Agent().PassTTL(check(i), ""); err != nil {
			return err
		}
		if d, err = until(t, func() bool { return len(p.Instances(h)) == 1 }); err != nil {
			return err
		}
		pass = append(pass, d)
		newHost := fmt.Sprintf("new%d.bench.test", s)
		t = time.Now()
		if err := store.Put(ctx, ingress.Route{Cloudspace: "bench", App: fmt.Sprintf("new%d", s), Env: "live",
			Hosts: []string{newHost}, Primary: newHost, Service: svc(i)}, 0); err != nil {
			return err
		}
		if d, err = until(t, func() bool { return len(p.Instances(newHost)) == 1 }); err != nil {
			return err
		}
		route = append(route, d)
	}
	row := func(label string, ds []time.Duration) {
		slices.Sort(ds)
		fmt.Printf("%-9d %-26s %10s %10s %10s\n", n, label, ds[len(ds)/2].Round(10*time.Microsecond),
			ds[(len(ds)*99+99)/100-1].Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond))
	}
	row("check critical → dropped", fail)
	row("check passing → routed", pass)
	row("new route record → routed", route)
	all := slices.Concat(fail, pass, route)
	slices.Sort(all)
	goal := time.Second
	if n >= 1000 {
		goal = 2 * time.Second
	}
	fmt.Printf("%-9d %-26s p99 %s (goal < %s); first load of all routes took %s\n", n, "all changes",
		all[(len(all)*99+99)/100-1].Round(10*time.Microsecond), goal, initial.Round(time.Millisecond))
	return nil
}
