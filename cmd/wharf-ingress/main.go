// Command wharf-ingress is Wharf's ingress controller: a reverse proxy whose routes come
// from route records wharfd writes to Consul KV and whose instances come from Consul's
// health, with certificates over ACME. See docs/ingress.md.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/wharf-platform/wharf/ingress"
	"github.com/wharf-platform/wharf/ingress/consul"
	platformconsul "github.com/wharf-platform/wharf/platform/consul"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run is wharf-ingress's whole life, with everything it reads from outside passed in.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-version" || args[0] == "--version") {
		fmt.Fprintln(stdout, "wharf-ingress", version, commit)
		return 0
	}
	cfg, err := loadConfig(args, environ, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "wharf-ingress: %v\n", err)
		return 2
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var log *slog.Logger
	if cfg.LogFormat == "text" {
		log = slog.New(slog.NewTextHandler(stderr, opts))
	} else {
		log = slog.New(slog.NewJSONHandler(stderr, opts))
	}
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("wharf-ingress stopped", "error", err)
		return 1
	}
	return 0
}

// serve runs the source, the proxy and the listeners until ctx ends, then drains the
// listeners within a deadline.
func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	client, err := consulapi.NewClient(platformconsul.APIConfig(platformconsul.Config{Address: cfg.ConsulAddr, Token: cfg.ConsulToken.Reveal(), TLS: cfg.ConsulTLS}))
	if err != nil {
		return fmt.Errorf("consul client: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pcfg := ingress.Config{Log: log, Registerer: reg}
	if cfg.AccessLog {
		pcfg.AccessLog = log.With("log", "access")
	}
	var certs *ingress.Certs
	// The proxy exists before Certs, which asks it what is routed; Certs exists before
	// the first route table, since the source starts after both.
	pcfg.OnRoutes = func(hosts []string) {
		if certs != nil {
			certs.Prefetch(hosts)
		}
	}
	proxy := ingress.New(pcfg)
	src := &consul.Source{Client: client, Prefix: cfg.RoutesPrefix, Cloudspace: cfg.Cloudspace, CheckFilter: cfg.CheckFilter, Log: log}

	var plain http.Handler = proxy
	if cfg.HTTPS != "" {
		key, _ := cfg.cacheKey() // validated
		sealed, err := ingress.NewSealedCache(consul.NewCertCache(client, ""), key)
		if err != nil {
			return err
		}
		acmeHTTP := &http.Client{Timeout: time.Minute}
		if cfg.ACMECAFile != "" {
			pem, err := os.ReadFile(cfg.ACMECAFile)
			if err != nil {
				return fmt.Errorf("acme ca file: %w", err)
			}
			pool, _ := x509.SystemCertPool()
			if pool == nil {
				pool = x509.NewCertPool()
			}
			pool.AppendCertsFromPEM(pem)
			acmeHTTP.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		}
		certs = ingress.NewCerts(ingress.CertsConfig{
			DirectoryURL: cfg.ACMEDirectory, Email: cfg.ACMEEmail, Cache: sealed, Locker: consul.NewLocker(client, ""),
			Routed: proxy.Routed, HTTPClient: acmeHTTP, Log: log,
		})
		plain = certs.HTTPHandler(proxy)
	}

	admin := http.NewServeMux()
	admin.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	admin.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if !proxy.Ready() {
			http.Error(w, "routes not loaded yet", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})

	type listener struct {
		name string
		addr string
		srv  *http.Server
		tls  bool
	}
	ls := []listener{
		{name: "http", addr: cfg.HTTP, srv: &http.Server{Handler: plain, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}},
		{name: "admin", addr: cfg.Admin, srv: &http.Server{Handler: admin, ReadHeaderTimeout: 10 * time.Second}},
	}
	if cfg.TasksHTTP != "" {
		ls = append(ls, listener{name: "tasks-http", addr: cfg.TasksHTTP, srv: &http.Server{Handler: plain, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}})
	}
	if certs != nil {
		ls = append(ls, listener{name: "https", addr: cfg.HTTPS, tls: true,
			srv: &http.Server{Handler: proxy, TLSConfig: certs.TLSConfig(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}})
	}
	bound := map[string]string{}
	var nls []net.Listener
	for _, l := range ls {
		nl, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, o := range nls {
				o.Close()
			}
			return fmt.Errorf("listen %s: %w", l.name, err)
		}
		nls = append(nls, nl)
		bound[l.name] = nl.Addr().String()
	}
	if cfg.AddrFile != "" {
		b, _ := json.Marshal(bound)
		if err := os.WriteFile(cfg.AddrFile+".tmp", b, 0o644); err != nil {
			return err
		}
		if err := os.Rename(cfg.AddrFile+".tmp", cfg.AddrFile); err != nil {
			return err
		}
	}
	log.Info("wharf-ingress listening", "addrs", bound, "cloudspace", cfg.Cloudspace, "version", version)

	g, gctx := errgroup.WithContext(ctx)
	updates := make(chan ingress.Update, 64)
	g.Go(func() error { return src.Run(gctx, updates) })
	g.Go(func() error { return proxy.Run(gctx, updates) })
	for i, l := range ls {
		nl := nls[i]
		g.Go(func() error {
			var err error
			if l.tls {
				err = l.srv.ServeTLS(nl, "", "")
			} else {
				err = l.srv.Serve(nl)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("%s: %w", l.name, err)
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("wharf-ingress shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		defer cancel()
		var errs []error
		for _, l := range ls {
			errs = append(errs, l.srv.Shutdown(sctx))
		}
		return errors.Join(errs...)
	})
	return g.Wait()
}
