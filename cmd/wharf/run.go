package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-platform/wharf/internal/client"
)

// runRecord is a one-off command run as the API returns it.
type runRecord struct {
	ID        string    `json:"id"`
	Release   int       `json:"release"`
	Command   string    `json:"command"`
	Status    string    `json:"status"`
	ExitCode  *int      `json:"exit_code"`
	Reason    string    `json:"reason"`
	Output    []runLine `json:"output"`
	Skipped   int       `json:"skipped"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

type runLine struct {
	Stream string `json:"stream"`
	Line   string `json:"line"`
}

// commandExit ends wharf with a command's own exit code, saying nothing more: the
// command's output said what there was to say.
type commandExit struct{ code int }

func (e *commandExit) Error() string { return fmt.Sprintf("the command exited with code %d", e.code) }

func (c *cli) runCommand() *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "run [ENV] -- COMMAND [ARGS...]",
		Short: "Run a one-off command in an environment's current release and configuration",
		Long: `Runs COMMAND once, in a new instance of ENV's current release with its configuration
(variables, secrets, database credentials), shows its output as it comes and exits with
its exit code. ENV is the first argument when a "--" follows it, else test.

One argument is a shell command line, run by /bin/sh -c (so "wharf run test -- 'echo $X'"
expands $X in the instance); several are one command and its arguments, each passed as
it is. Ctrl-C stops the command. With --detach wharf returns at once, and
"wharf runs ENV RUN" shows the output later. Runs are kept, the last 100 per environment:
"wharf runs ENV" lists them. It needs the developer role.`,
		Example: `  wharf run live -- python manage.py migrate
  wharf run -- sh -c 'echo ${#DATABASE_URL}'
  wharf run live --detach -- ./bin/reindex`,
		Args: func(cmd *cobra.Command, a []string) error {
			before, after, dash := splitDash(cmd, a)
			if (dash && len(after) == 0) || len(a) == 0 {
				return usageErrorf("no command given; usage: %s", cmd.UseLine())
			}
			if dash && len(before) > 1 {
				return usageErrorf("only the environment may come before \"--\"; usage: %s", cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			env, argv := "test", a
			if before, after, dash := splitDash(cmd, a); dash {
				argv = after
				if len(before) == 1 {
					env = before[0]
				}
			}
			in := map[string]any{"args": argv}
			if len(argv) == 1 {
				in = map[string]any{"command": argv[0]}
			}
			ctx := cmd.Context()
			cl, p, r, err := c.envClient(ctx, env, "runs")
			if err != nil {
				return err
			}
			raw, err := cl.Do(ctx, http.MethodPost, p, in)
			if err != nil {
				return err
			}
			var run runRecord
			if err := json.Unmarshal(raw, &run); err != nil || run.ID == "" {
				return fmt.Errorf("unexpected answer to a run: %s", raw)
			}
			if detach {
				if c.output == "json" {
					return writeJSON(c.stdout, raw)
				}
				fmt.Fprintf(c.stdout, "Run %s started in %s (release v%d); `wharf runs %s %s` shows its output\n", run.ID, r, run.Release, r.env, run.ID)
				return nil
			}
			fmt.Fprintf(c.stderr, "Running %s in %s (release v%d), run %s\n", run.Command, r, run.Release, run.ID)
			return c.followRun(ctx, cl, r, run.ID)
		},
	}
	cmd.Flags().BoolVar(&detach, "detach", false, "return once the command started, without following it")
	return cmd
}

// followRun writes a run's output as it comes (its stdout on stdout, its stderr on
// stderr) and returns with its exit code; Ctrl-C stops the run.
func (c *cli) followRun(ctx context.Context, cl *client.Client, r ref, id string) error {
	path := client.Path("orgs", r.org, "apps", r.app, "envs", r.env, "runs", id, "events")
	shown := 0
	var done json.RawMessage
	// The stream may end early when the server restarts; follow it again, skipping
	// what was shown.
	for attempt := 0; done == nil && attempt < 5; attempt++ {
		seen := 0
		var streamErr error
		err := cl.Events(ctx, path, func(ev client.Event) bool {
			switch ev.Name {
			case "gap":
				var n int
				_ = json.Unmarshal(ev.Data, &n)
				seen += n
				if seen > shown {
					fmt.Fprintf(c.stderr, "wharf: (%d lines left out)\n", seen-shown)
					shown = seen
				}
			case "output":
				seen++
				if seen > shown {
					shown = seen
					var l runLine
					if json.Unmarshal(ev.Data, &l) == nil {
						w := c.stdout
						if l.Stream == "stderr" {
							w = c.stderr
						}
						fmt.Fprintln(w, l.Line)
					}
				}
			case "done":
				done = append(json.RawMessage(nil), ev.Data...)
				return false
			case "error":
				var msg string
				_ = json.Unmarshal(ev.Data, &msg)
				streamErr = fmt.Errorf("following run %s: %s", id, msg)
				return false
			}
			return true
		})
		if ctx.Err() != nil {
			// Interrupted: the command stops with its caller, as a terminal's would.
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := cl.Do(sctx, http.MethodPost, client.Path("orgs", r.org, "apps", r.app, "envs", r.env, "runs", id, "stop"), nil); err != nil {
				return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted, and run %s could not be stopped: %w", id, err)}
			}
			return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted; run %s is stopped", id)}
		}
		if err != nil {
			return err
		}
		if streamErr != nil {
			return streamErr
		}
	}
	if done == nil {
		return &exitError{code: exitServer, err: fmt.Errorf("the server stopped sending run %s's output; `wharf runs %s %s` shows it", id, r.env, id)}
	}
	if c.output == "json" {
		if err := writeJSON(c.stdout, done); err != nil {
			return err
		}
	}
	return runOutcome(done)
}

// runOutcome is how wharf ends after an ended run: with the command's exit code, or
// with the reason it did not run to its end.
func runOutcome(raw json.RawMessage) error {
	var run runRecord
	if err := json.Unmarshal(raw, &run); err != nil {
		return err
	}
	if run.ExitCode != nil {
		if *run.ExitCode == 0 {
			return nil
		}
		return &commandExit{code: *run.ExitCode}
	}
	return fmt.Errorf("run %s failed: %s", run.ID, run.Reason)
}

func (c *cli) runsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "runs [ENV] [RUN]",
		Short: "List an environment's one-off command runs, newest first, or show one's output",
		Args:  args(cobra.MaximumNArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			if len(a) == 2 {
				cl, p, _, err := c.envClient(ctx, a[0], "runs", a[1])
				if err != nil {
					return err
				}
				raw, err := cl.Get(ctx, p, nil)
				if err != nil {
					return err
				}
				if c.output == "json" {
					return writeJSON(c.stdout, raw)
				}
				var run runRecord
				if err := json.Unmarshal(raw, &run); err != nil {
					return err
				}
				fmt.Fprintf(c.stderr, "Run %s of %q (release v%d, by %s, %s): %s\n", run.ID, run.Command, run.Release, run.CreatedBy, ago(run.CreatedAt, time.Now()), runState(run))
				if run.Skipped > 0 {
					fmt.Fprintf(c.stderr, "(%d earlier lines left out)\n", run.Skipped)
				}
				for _, l := range run.Output {
					w := c.stdout
					if l.Stream == "stderr" {
						w = c.stderr
					}
					fmt.Fprintln(w, l.Line)
				}
				return nil
			}
			cl, p, r, err := c.envClient(ctx, envArg(a), "runs")
			if err != nil {
				return err
			}
			return c.list(ctx, cl, p, func(items []json.RawMessage) (table, string, error) {
				runs, err := decodeAll[runRecord](items)
				sort.Slice(runs, func(i, j int) bool { return runs[i].ID > runs[j].ID })
				t := table{header: []string{"run", "status", "release", "started", "by", "command"}}
				for _, run := range runs {
					t.add(run.ID, runState(run), fmt.Sprintf("v%d", run.Release), ago(run.CreatedAt, time.Now()), run.CreatedBy, oneLine(shorten(run.Command, 60)))
				}
				return t, "No runs in " + r.String() + " yet: `wharf run " + r.env + " -- COMMAND` starts one.", err
			})
		},
	}
}

// runState is a run's status with its exit code or reason.
func runState(run runRecord) string {
	switch {
	case run.Status == "running":
		return "running"
	case run.ExitCode != nil:
		return fmt.Sprintf("exit %d", *run.ExitCode)
	default:
		return "failed: " + run.Reason
	}
}

// shorten cuts s to n runes, marking the cut.
func shorten(s string, n int) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}

// splitDash splits a command's arguments at "--": those before it and after it, and
// whether there was one.
func splitDash(cmd *cobra.Command, a []string) (before, after []string, found bool) {
	if d := cmd.ArgsLenAtDash(); d >= 0 {
		return a[:d], a[d:], true
	}
	for i, arg := range a {
		if arg == "--" {
			return a[:i], a[i+1:], true
		}
	}
	return a, nil, false
}
