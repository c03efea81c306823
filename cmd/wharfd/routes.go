package main

import (
	"context"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/ingress"
	ingressconsul "github.com/wharf-platform/wharf/ingress/consul"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/consul"
)

// routes writes environments' route records for wharf-ingress (docs/ingress.md): the
// controller's platform.Router.
type routes struct {
	store *ingressconsul.RouteStore
}

var _ platform.Router = routes{}

func newRoutes(cfg consul.Config) (routes, error) {
	c, err := consulapi.NewClient(consul.APIConfig(cfg))
	if err != nil {
		return routes{}, platform.Wrap(platform.Invalid, err, "consul client configuration")
	}
	return routes{store: ingressconsul.NewRouteStore(c, "")}, nil
}

// routeApp names an environment's application in its route record's key
// (platform.EnvRef.RouteApp): applications are named within an organisation, so the
// organisation is part of it.
func routeApp(t platform.Target) string { return t.RouteApp() }

// PublishRoute writes the environment's route: its names, served by its web service,
// with its HTTPS redirect and basic-auth protection (a bcrypt hash).
func (r routes) PublishRoute(ctx context.Context, t platform.Target, spec platform.RouteSpec) error {
	want := routeRecord(t, spec, t.ServiceName())
	for range 3 {
		_, index, err := r.store.Get(ctx, t.Cloudspace.Name, routeApp(t), t.Env)
		switch platform.ErrorCode(err) {
		case "":
		case platform.NotFound:
			index = 0
		default:
			return err
		}
		err = r.store.Put(ctx, want, index)
		if platform.ErrorCode(err) != platform.Conflict {
			return err
		}
	}
	return platform.Errorf(platform.Conflict, "the route of %s/%s/%s kept changing", t.Org, t.App, t.Env)
}

// WithdrawRoute deletes the environment's route, if it has one.
func (r routes) WithdrawRoute(ctx context.Context, t platform.Target) error {
	err := r.store.Delete(ctx, t.Cloudspace.Name, routeApp(t), t.Env, 0)
	if platform.ErrorCode(err) == platform.NotFound {
		return nil
	}
	return err
}

var _ platform.LegacyRouter = routes{}

// AdoptLegacyRoute moves the environment's legacy route record (key
// "<cloudspace>/<org>-<app>/<env>", written by a wharfd before platform/identity.go) to
// its key, with spec's names, still served by service (the legacy one, until the
// upgrade's deploy points it at the new). The move is one transaction. A legacy record
// naming another service is left alone (legacy keys are ambiguous: it is then another
// environment's), and with no legacy record there is nothing to do.
func (r routes) AdoptLegacyRoute(ctx context.Context, t platform.Target, spec platform.RouteSpec, service string) error {
	old, index, err := r.store.Get(ctx, t.Cloudspace.Name, t.LegacyRouteApp(), t.Env)
	switch platform.ErrorCode(err) {
	case "":
	case platform.NotFound:
		return nil
	default:
		return err
	}
	if old.Service != service {
		return nil
	}
	return r.store.Move(ctx, t.Cloudspace.Name, t.LegacyRouteApp(), t.Env, index, routeRecord(t, spec, service))
}

// routeRecord is the environment's route record: spec's names and routing, served by
// service.
func routeRecord(t platform.Target, spec platform.RouteSpec, service string) ingress.Route {
	r := ingress.Route{
		Version: ingress.RouteVersion, Cloudspace: t.Cloudspace.Name, App: routeApp(t), Env: t.Env,
		Hosts: spec.Hosts, Primary: spec.Primary, Service: service, HTTPSRedirect: spec.HTTPSRedirect,
	}
	if spec.ProtectionUser != "" {
		r.BasicAuth = &ingress.BasicAuth{Username: spec.ProtectionUser, PasswordHash: spec.ProtectionHash}
	}
	return r
}
