// Command wharf is Wharf's command-line client. It speaks only to wharfd's HTTP API
// (WHARF_ADDR), never to the agents behind it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "version" {
		fmt.Fprintln(stderr, "usage: wharf version")
		return 2
	}
	addr := strings.TrimRight(getenv("WHARF_ADDR"), "/")
	if addr == "" {
		addr = "http://127.0.0.1:18080"
	}
	fmt.Fprintf(stdout, "client  %s\n", version)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, addr+"/v1/version", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "wharf: cannot reach wharfd at %s: %v\n", addr, err)
		return 1
	}
	defer resp.Body.Close()
	var v struct{ Version string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		fmt.Fprintf(stderr, "wharf: %s answered %s\n", addr, resp.Status)
		return 1
	}
	fmt.Fprintf(stdout, "server  %s (%s)\n", v.Version, addr)
	return 0
}
