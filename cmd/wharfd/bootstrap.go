package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/consul"
)

// Exit statuses of `wharfd bootstrap`.
const (
	exitBootstrapped        = 0 // the token is on stdout
	exitBootstrapFailed     = 1 // Consul could not be reached, or another failure
	exitBootstrapUsage      = 2 // bad flags or configuration
	exitAlreadyBootstrapped = 3 // the store has an administrator already; nothing changed
)

// runBootstrap is `wharfd bootstrap`: it creates the first platform administrator
// ("admin") and an API token for it in the state store, and prints the token, alone on
// one line, to stdout. It takes wharfd's configuration (only Consul is used) and does it
// once in a store's life: when the store is already bootstrapped it changes nothing and
// exits with status 3.
func runBootstrap(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(args, environ, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "wharfd bootstrap: %v\n", err)
		return exitBootstrapUsage
	}
	client, err := consul.New(consul.Config{Address: cfg.ConsulAddr, Token: cfg.ConsulToken.Reveal(), TLS: cfg.ConsulTLS})
	if err != nil {
		fmt.Fprintf(stderr, "wharfd bootstrap: %v\n", err)
		return exitBootstrapUsage
	}
	model := &platform.Service{KV: client.Store(consul.DefaultPrefix)}
	_, token, err := model.Bootstrap(ctx)
	switch platform.ErrorCode(err) {
	case "":
		fmt.Fprintln(stdout, token.Reveal())
		fmt.Fprintf(stderr, "wharfd bootstrap: created administrator %q; its token is shown once, above\n", platform.BootstrapPerson)
		return exitBootstrapped
	case platform.Conflict:
		fmt.Fprintln(stderr, "wharfd bootstrap: already bootstrapped; nothing changed")
		return exitAlreadyBootstrapped
	}
	fmt.Fprintf(stderr, "wharfd bootstrap: %v\n", err)
	return exitBootstrapFailed
}
