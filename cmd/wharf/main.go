// Command wharf is Wharf's command-line client. It speaks only to wharfd's HTTP API
// (WHARF_ADDR), never to the agents behind it.
//
// Exit codes: 0 success; 1 any other failure (a failed deploy, a local error); 2 a usage
// error (bad arguments or flags, nothing names the application, a value the API calls
// invalid); 3 authentication or permission (not logged in, token refused, forbidden);
// 4 not found; 5 conflict (another deploy runs, the resource exists or changed, a plan
// limit); 6 the server failed or cannot be reached; 130 interrupted (Ctrl-C while a
// deploy was followed: the deploy goes on server-side).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/wharf-platform/wharf/internal/client"
)

var (
	version = "dev"
	commit  = ""
)

// Exit codes; the package doc explains each.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitAuth        = 3
	exitNotFound    = 4
	exitConflict    = 5
	exitServer      = 6
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs one command and returns its exit code; errors are written to stderr as one
// line.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCLI(getenv, stdin, stdout, stderr)
	root := c.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ce *commandExit
	if errors.As(err, &ce) {
		return ce.code // wharf run: the command's own exit code, nothing more to say
	}
	code := exitCode(err)
	fmt.Fprintln(stderr, "wharf: "+message(err))
	return code
}

// exitError carries its exit code; the other errors get theirs from exitCode.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func authErrorf(format string, args ...any) error {
	return &exitError{code: exitAuth, err: fmt.Errorf(format, args...)}
}

// exitCode classifies err.
func exitCode(err error) int {
	var ee *exitError
	var ce *client.Error
	var ue *client.Unreachable
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ce):
		switch ce.Code {
		case "invalid":
			return exitUsage
		case "unauthorized", "forbidden":
			return exitAuth
		case "not_found":
			return exitNotFound
		case "conflict", "limit_exceeded":
			return exitConflict
		case "unavailable", "internal":
			return exitServer
		}
		if ce.Status >= 500 {
			return exitServer
		}
		return exitFailure
	case errors.As(err, &ue):
		return exitServer
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	}
	return exitFailure
}

// message is err as one line, with a hint where the next step is clear.
func message(err error) string {
	var ce *client.Error
	msg := err.Error()
	if errors.As(err, &ce) && ce.Code == "unauthorized" {
		msg += "; log in again with `wharf login` (or set WHARF_TOKEN)"
	}
	if errors.Is(err, context.Canceled) {
		msg = "interrupted"
	}
	return oneLine(msg)
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
