// Command wharfd is Wharf's control plane: the HTTP API, the application controllers and
// the Control Panel. It keeps no state of its own (that lives in Consul KV), so several
// replicas can run side by side.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/wharf-platform/wharf/api"
	"github.com/wharf-platform/wharf/jobspecs"
	"github.com/wharf-platform/wharf/panel"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/consul"
	"github.com/wharf-platform/wharf/platform/metrics"
	"github.com/wharf-platform/wharf/platform/nomad"
	"github.com/wharf-platform/wharf/platform/objectstore"
	"github.com/wharf-platform/wharf/platform/postgres"
	"github.com/wharf-platform/wharf/platform/registry"
	"github.com/wharf-platform/wharf/platform/vault"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

// healthMaxAge is how long /v1/health serves one round of probes again: it needs no
// token, so it must not reach PostgreSQL and the agents on every request.
const healthMaxAge = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run is wharfd's whole life, with everything it reads from the outside passed in.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "bootstrap" {
		return runBootstrap(ctx, args[1:], environ, stdout, stderr)
	}
	cfg, err := loadConfig(args, environ, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "wharfd: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("wharfd stopped", "error", err)
		return 1
	}
	return 0
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// serve wires the adapters into the API and serves it until ctx ends, then shuts down
// gracefully within a deadline.
func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	consulClient, err := consul.New(consul.Config{Address: cfg.ConsulAddr, Token: cfg.ConsulToken.Reveal(), TLS: cfg.ConsulTLS})
	if err != nil {
		return err
	}
	nomadClient, err := nomad.New(nomad.Config{Address: cfg.NomadAddr, Region: cfg.NomadRegion, Token: cfg.NomadToken.Reveal(), TLS: cfg.NomadTLS,
		Runtime: nomad.Runtime{NetworkMode: cfg.NomadNetworkMode, Builder: cfg.BuilderBinary, BuildNetwork: cfg.BuildNetwork, Update: &jobspecs.UpdatePolicy{
			MinHealthyTime: cfg.DeployMinHealthyTime, HealthyDeadline: cfg.DeployHealthyDeadline, ProgressDeadline: cfg.DeployProgressDeadline,
		}}})
	if err != nil {
		return err
	}
	vaultClient, err := vault.New(vault.Config{Address: cfg.VaultAddr, Token: cfg.VaultToken, TLS: cfg.VaultTLS})
	if err != nil {
		return err
	}
	// The registry answers only with tokens wharfd signs, wharfd's own included.
	reg := registry.New(cfg.RegistryAddr, nil)
	var issuer *registry.Issuer
	if cfg.RegistryTokenKeyFile != "" {
		if issuer, err = registry.LoadIssuer(cfg.RegistryTokenKeyFile, cfg.RegistryTokenIssuer, cfg.RegistryTokenService); err != nil {
			return err
		}
		reg = reg.WithIssuer(issuer)
	}
	health := &platform.HealthChecker{
		Probers: []platform.Prober{consulClient, nomadClient, vaultClient, reg},
		Timeout: 3 * time.Second,
		MaxAge:  healthMaxAge,
	}
	model := &platform.Service{KV: consulClient.Store(consul.DefaultPrefix), Secrets: vaultClient.Secrets()}
	platform.TemplateVersion = jobspecs.Version(jobspecs.Web)
	rts, err := newRoutes(consul.Config{Address: cfg.ConsulAddr, Token: cfg.ConsulToken.Reveal(), TLS: cfg.ConsulTLS})
	if err != nil {
		return err
	}
	buildLimit, _ := time.ParseDuration(cfg.BuildTimeLimit)
	deployer := &platform.Deployer{
		Service: model, Scheduler: nomadClient, Runtime: vaultClient.Runtime(),
		Builder: nomadClient, Artifacts: reg, BuildLimit: buildLimit, Routes: rts,
		GitLocalHosts: cfg.BuildGitLocalHosts, AllowedImages: cfg.AllowedImages,
		Log: log.With("component", "controller"),
	}
	if cfg.ObjectStoreEndpoint != "" {
		// The cloudspace's object store: wharfd makes and deletes storage instances'
		// accounts and buckets there; their keys live in Vault.
		store := objectstore.New(objectstore.Config{Endpoint: cfg.ObjectStoreEndpoint, Region: cfg.ObjectStoreRegion,
			AccessKey: cfg.ObjectStoreAccessKey, SecretKey: cfg.ObjectStoreSecretKey, PublicURL: cfg.ObjectStorePublicURL})
		deployer.ObjectStore = store
		deployer.StorageCreds = vaultClient.StorageKeys()
		health.Probers = append(health.Probers, store)
	}
	var registryTokens api.RegistryTokens // nil without a token key: no token endpoint
	if issuer != nil {
		deployer.Registry, deployer.BuildCredentials, deployer.Nodes = issuer, vaultClient.BuildCredentials(), nomadClient
		deployer.CacheScopes = issuer
		registryTokens = deployer
	}
	var backups *platform.Backups
	var apiBackups api.Backups // nil without a cluster or an object store: no backup routes
	if cfg.PostgresAddr != "" {
		// The cloudspace's PostgreSQL cluster: wharfd makes and drops service
		// instances' databases there; Vault issues their users.
		cluster := postgres.New(postgres.Config{Address: cfg.PostgresAddr, AdminUser: cfg.PostgresAdminUser, AdminPassword: cfg.PostgresAdminPassword})
		deployer.Databases = cluster
		health.Probers = append(health.Probers, cluster)
		creds := vaultClient.Databases(vault.DatabaseConfig{
			Address: cfg.PostgresAddr, AdminUser: cfg.PostgresAdminUser, AdminPassword: cfg.PostgresAdminPassword,
			TTL: cfg.DatabaseCredsTTL, MaxTTL: cfg.DatabaseCredsMaxTTL,
		})
		deployer.DatabaseCreds = creds
		backups = &platform.Backups{Deployer: deployer, Runner: nomadClient, Policies: creds, Schedule: cfg.BackupSchedule,
			Blobs: reg}
		apiBackups = backups
	}
	if backups == nil && deployer.ObjectStore != nil {
		// Storage instances are backed up by wharfd itself, into the object store.
		backups = &platform.Backups{Deployer: deployer, Schedule: cfg.BackupSchedule}
		apiBackups = backups
	}
	// One-off commands (wharf run), driven by the replica that starts each until ctx
	// ends; then they are stopped and recorded as such before wharfd exits.
	runs := &platform.Runs{Deployer: deployer, Runner: nomadClient, Config: vaultClient.Runtime(), Shell: nomadClient, Base: ctx}
	defer runs.Wait()
	var collector *metrics.Collector
	var panelMetrics panel.MetricsSource // nil without a metrics store: no graphs
	if cfg.MetricsDir != "" {
		// Environments' metrics: this replica samples and keeps its own copy.
		retention, _ := time.ParseDuration(cfg.MetricsRetention)
		store, err := metrics.Open(cfg.MetricsDir, retention, log.With("component", "metrics"))
		if err != nil {
			return err
		}
		defer store.Close()
		runs.MetricsStore = store
		panelMetrics = runs
		collector = &metrics.Collector{Store: store, Instances: nomadClient, Regions: model.Regions, Ingresses: cfg.MetricsIngress, Log: log.With("component", "metrics")}
	}
	// The Go runtime's and the process's own figures (goroutines, memory, descriptors)
	// beside the API's, so a leak shows on /metrics.
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	e := api.New(api.Config{
		Metrics: metrics,
		Logger:  log,
		Version: api.Version{Version: version, Commit: commit, GoVersion: runtime.Version()},
		Health:  health,
		Model:   deployer, // the model, with environments' teardown on delete
		Deploys: deployer,
		Builds:  deployer,
		Domains: deployer,
		Panel:   panel.New(panel.Config{Model: deployer, Sessions: model.KV, Logger: log.With("component", "panel"), Metrics: panelMetrics}).Register,

		Services: deployer, // service instances (databases, storage)
		Backups:  apiBackups,
		Runs:     runs,
		Execs:    runs, // wharf exec: a WebSocket to Nomad's alloc exec

		EnvMetrics: runs,
		GitHooks:   runs, // deploys on git push
		Registry:   registryTokens,
	})

	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.AddrFile != "" {
		if err := writeFileAtomic(cfg.AddrFile, []byte(l.Addr().String())); err != nil {
			l.Close()
			return err
		}
	}
	log.Info("wharfd listening", "addr", l.Addr().String(), "version", version)
	// Streams (logs, deploy events) end a few seconds into a shutdown, through their
	// requests' context; ordinary requests get the whole grace period.
	base, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return base }}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		// One replica at a time runs the deploy controller.
		return ignoreCanceled(consulClient.Lead(gctx, consul.DefaultPrefix, "locks/controller", func(lctx context.Context) {
			log.Info("leading: running the deploy controller")
			if backups != nil {
				every, _ := time.ParseDuration(cfg.BackupInterval)
				go backups.RunSchedule(lctx, every)
			}
			// A cloudspace made by an older wharfd moves to the current names.
			upgrade := &platform.Upgrade{Deployer: deployer, Jobs: nomadClient, Routes: rts,
				Policies: vaultClient.Runtime(), Log: log.With("component", "upgrade")}
			go upgrade.Run(lctx, 5*time.Second)
			_ = deployer.Run(lctx)
			log.Info("no longer leading")
		}))
	})
	if collector != nil {
		g.Go(func() error { return ignoreCanceled(collector.Run(gctx)) })
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("wharfd shutting down")
		time.AfterFunc(3*time.Second, endStreams)
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// writeFileAtomic writes b to path through a rename, so a reader never sees half of it.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
