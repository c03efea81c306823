package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-platform/wharf/cmd/wharf/internal/source"
	"github.com/wharf-platform/wharf/internal/client"
)

// envArg is the environment an optional ENV argument names; test by default.
func envArg(a []string) string {
	if len(a) > 0 {
		return a[0]
	}
	return "test"
}

func (c *cli) deployCommand() *cobra.Command {
	var image, dir string
	var detach bool
	cmd := &cobra.Command{
		Use:   "deploy [ENV]",
		Short: "Deploy an image (--image) or this directory's source to an environment (default test)",
		Long: `Deploys to ENV (default test) and follows the deploy's progress to its end, then
prints the environment's URL. With --image it releases that image; without, it packs the
directory (honouring .dockerignore) and uploads it for the server to build, where the
server supports builds from source. Ctrl-C stops following; the deploy goes on, and
"wharf status ENV" shows it.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			cl, p, r, err := c.envClient(ctx, envArg(a), "deploys")
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if image != "" {
				fmt.Fprintf(c.stderr, "Deploying %s to %s\n", image, r)
				raw, err = cl.Do(ctx, http.MethodPost, p, map[string]string{"image": image})
			} else {
				raw, err = c.upload(ctx, cl, p, dir)
			}
			if err != nil {
				return err
			}
			return c.followDeploy(ctx, cl, raw, r, detach)
		},
	}
	cmd.Flags().StringVar(&image, "image", "", "deploy this image instead of building the source")
	cmd.Flags().StringVar(&dir, "dir", ".", "the source directory to build (without --image)")
	cmd.Flags().BoolVar(&detach, "detach", false, "return once the deploy is queued, without following it")
	return cmd
}

// sourceUploadType is the media type of a source tarball upload.
const sourceUploadType = "application/gzip"

// upload packs dir and sends it to the environment's deploys (at path) to be built,
// where the server takes source uploads.
func (c *cli) upload(ctx context.Context, cl *client.Client, path, dir string) (json.RawMessage, error) {
	route, err := sourceRoute(ctx, cl)
	if err != nil {
		return nil, err
	}
	if route == "" {
		return nil, errNoBuilds(cl.Addr)
	}
	path = strings.TrimSuffix(path+route, "/")
	f, err := os.CreateTemp("", "wharf-source-*.tar.gz")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	abs, _ := filepath.Abs(dir)
	st, err := source.Pack(ctx, dir, f)
	if err != nil {
		return nil, fmt.Errorf("packing %s: %w", abs, err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.stderr, "Packed %s: %d files, %s (%s compressed), %d paths left out by .dockerignore\n",
		abs, st.Files, bytesText(st.Bytes), bytesText(size), st.Excluded)
	body := &progressReader{r: f, total: size, w: c.stderr}
	resp, err := cl.Request(ctx, http.MethodPost, path, sourceUploadType, body)
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) && ce.Status == http.StatusUnsupportedMediaType {
			return nil, errNoBuilds(cl.Addr)
		}
		return nil, err
	}
	defer resp.Body.Close()
	fmt.Fprintf(c.stderr, "Uploaded %s\n", bytesText(size))
	return io.ReadAll(resp.Body)
}

func errNoBuilds(addr string) error {
	return fmt.Errorf("builds from source are not available on the server at %s yet: deploy an image with --image IMAGE", addr)
}

// sourceRoute is where, under an environment's deploys, the server's OpenAPI document
// lets a gzipped source tarball be posted: "/source", "" (the deploys themselves), or
// none (ok false).
func sourceRoute(ctx context.Context, cl *client.Client) (string, error) {
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]json.RawMessage `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if _, err := cl.Get(ctx, client.Path("openapi.json"), &doc); err != nil {
		return "", err
	}
	const deploys = "/v1/orgs/{org}/apps/{app}/envs/{env}/deploys"
	for _, sub := range []string{"/source", ""} {
		if _, ok := doc.Paths[deploys+sub]["post"].RequestBody.Content[sourceUploadType]; ok {
			return cmp.Or(sub, "/"), nil
		}
	}
	return "", nil
}

// progressReader reports how much of an upload has been read.
type progressReader struct {
	r            io.Reader
	total, done  int64
	w            io.Writer
	lastReported int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.total > 0 && (p.done-p.lastReported >= p.total/10 || (err == io.EOF && p.lastReported < p.done)) {
		p.lastReported = p.done
		fmt.Fprintf(p.w, "Uploading: %s of %s (%d%%)\n", bytesText(p.done), bytesText(p.total), p.done*100/p.total)
	}
	return n, err
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// followDeploy shows a queued deploy's progress until it ends, then its outcome. A
// failed deploy is an error; an interrupted follow leaves the deploy running.
func (c *cli) followDeploy(ctx context.Context, cl *client.Client, raw json.RawMessage, r ref, detach bool) error {
	var d deploy
	if err := json.Unmarshal(raw, &d); err != nil || d.ID == "" {
		return fmt.Errorf("unexpected answer to a deploy: %s", raw)
	}
	if detach {
		if c.output == "json" {
			return writeJSON(c.stdout, raw)
		}
		fmt.Fprintf(c.stdout, "Deploy %s queued for %s; follow it with `wharf status %s`\n", d.ID, r, r.env)
		return nil
	}
	if d.Build != "" {
		if err := c.followBuild(ctx, cl, r, d); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.stderr, "Deploy %s (%s) of %s:\n", d.ID, d.Kind, r)
	path := client.Path("orgs", r.org, "apps", r.app, "envs", r.env, "deploys", d.ID, "events")
	shown := 0
	var done json.RawMessage
	// The stream may end early when the server restarts; follow it again, skipping
	// what was shown.
	for attempt := 0; done == nil && attempt < 5; attempt++ {
		seen := 0
		var streamErr error
		err := cl.Events(ctx, path, func(ev client.Event) bool {
			switch ev.Name {
			case "progress":
				seen++
				if seen > shown {
					shown = seen
					var e deployEvent
					if json.Unmarshal(ev.Data, &e) == nil {
						at := "--:--:--"
						if !e.At.IsZero() {
							at = e.At.Local().Format(time.TimeOnly)
						}
						fmt.Fprintf(c.stderr, "  %s  %-16s %s\n", at, e.Phase, e.Message)
					}
				}
			case "done":
				done = append(json.RawMessage(nil), ev.Data...)
				return false
			case "error":
				var msg string
				_ = json.Unmarshal(ev.Data, &msg)
				streamErr = fmt.Errorf("following deploy %s: %s", d.ID, msg)
				return false
			}
			return true
		})
		if ctx.Err() != nil {
			return &exitError{code: exitInterrupted, err: fmt.Errorf("stopped following deploy %s; it goes on on the server: `wharf status %s` shows it", d.ID, r.env)}
		}
		if err != nil {
			return err
		}
		if streamErr != nil {
			return streamErr
		}
	}
	if done == nil {
		return &exitError{code: exitServer, err: fmt.Errorf("the server stopped sending deploy %s's progress; `wharf status %s` shows it", d.ID, r.env)}
	}
	if err := json.Unmarshal(done, &d); err != nil {
		return err
	}
	if c.output == "json" {
		if err := writeJSON(c.stdout, done); err != nil {
			return err
		}
	}
	if d.Status != "succeeded" {
		return fmt.Errorf("deploy %s failed: %s", d.ID, d.Error)
	}
	var st envStatus
	if _, err := cl.Get(ctx, client.Path("orgs", r.org, "apps", r.app, "envs", r.env, "status"), &st); err != nil {
		return err
	}
	if c.output != "json" {
		fmt.Fprintln(c.stdout, deployDoneLine(d, r, st))
	}
	return nil
}

// followBuild shows the log of a deploy's build as it is written, until the build ends.
func (c *cli) followBuild(ctx context.Context, cl *client.Client, r ref, d deploy) error {
	fmt.Fprintf(c.stderr, "Build %s of %s/%s:\n", d.Build, r.org, r.app)
	var b struct {
		Status string `json:"status"`
		Image  string `json:"image"`
		Error  string `json:"error"`
	}
	err := cl.Events(ctx, client.Path("orgs", r.org, "apps", r.app, "builds", d.Build, "events"), func(ev client.Event) bool {
		switch ev.Name {
		case "log":
			var line string
			if json.Unmarshal(ev.Data, &line) == nil {
				fmt.Fprintf(c.stderr, "  | %s\n", line)
			}
		case "done":
			_ = json.Unmarshal(ev.Data, &b)
			return false
		}
		return true
	})
	if ctx.Err() != nil {
		return &exitError{code: exitInterrupted, err: fmt.Errorf("stopped following build %s; deploy %s goes on on the server: `wharf status %s` shows it", d.Build, d.ID, r.env)}
	}
	if err != nil {
		return err
	}
	switch b.Status {
	case "succeeded":
		fmt.Fprintf(c.stderr, "Built %s\n", b.Image)
	case "":
	default:
		fmt.Fprintf(c.stderr, "Build %s %s: %s\n", d.Build, b.Status, b.Error)
	}
	return nil
}

// deployDoneLine is the last line of a successful deploy.
func deployDoneLine(d deploy, r ref, st envStatus) string {
	switch {
	case d.Kind == "stop" || st.Stopped:
		return fmt.Sprintf("Deploy %s succeeded: %s is stopped (release %d)", d.ID, r, st.Release)
	case d.Release > 0 && d.Kind == "rollback":
		return fmt.Sprintf("Deploy %s succeeded: release %d (a rollback) of %s is live at %s", d.ID, d.Release, r, st.URL)
	case d.Release > 0:
		return fmt.Sprintf("Deploy %s succeeded: release %d of %s is live at %s", d.ID, d.Release, r, st.URL)
	}
	return fmt.Sprintf("Deploy %s (%s) succeeded: release %d of %s is live at %s", d.ID, d.Kind, st.Release, r, st.URL)
}

func (c *cli) releasesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "releases [ENV]",
		Short: "List an environment's releases, newest first (default test)",
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, p, r, err := c.envClient(cmd.Context(), envArg(a), "releases")
			if err != nil {
				return err
			}
			return c.list(cmd.Context(), cl, p, func(items []json.RawMessage) (table, string, error) {
				rels, err := decodeAll[release](items)
				sort.Slice(rels, func(i, j int) bool { return rels[i].Number > rels[j].Number })
				t := table{header: []string{"release", "image", "created", "by", "note"}}
				for _, rel := range rels {
					note := ""
					if rel.RollbackOf > 0 {
						note = fmt.Sprintf("rollback to release %d", rel.RollbackOf)
					}
					t.add(fmt.Sprintf("v%d", rel.Number), rel.Image, ago(rel.CreatedAt, time.Now()), rel.CreatedBy, note)
				}
				return t, "No releases of " + r.String() + " yet: `wharf deploy " + r.env + "` makes the first.", err
			})
		},
	}
}

func (c *cli) rollbackCommand() *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "rollback ENV RELEASE",
		Short: "Deploy an earlier release's image and configuration again, as a new release",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			n, err := strconv.Atoi(strings.TrimPrefix(a[1], "v"))
			if err != nil || n < 1 {
				return usageErrorf("RELEASE must be a release number such as 3 or v3, not %q", a[1])
			}
			cl, p, r, err := c.envClient(cmd.Context(), a[0], "rollback")
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "Rolling %s back to release %d\n", r, n)
			raw, err := cl.Do(cmd.Context(), http.MethodPost, p, map[string]int{"release": n})
			if err != nil {
				return err
			}
			return c.followDeploy(cmd.Context(), cl, raw, r, detach)
		},
	}
	cmd.Flags().BoolVar(&detach, "detach", false, "return once the deploy is queued")
	return cmd
}

// parseScale reads PROCESS=INSTANCES[:MEMORY_MB] arguments; a missing memory keeps
// the current one.
func parseScale(specs []string, current map[string]processScale) (map[string]processScale, error) {
	out := map[string]processScale{}
	for _, s := range specs {
		name, v, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%q: want PROCESS=INSTANCES or PROCESS=INSTANCES:MEMORY_MB", s)
		}
		inst, mem, hasMem := strings.Cut(v, ":")
		n, err := strconv.Atoi(inst)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q: instances must be a whole number", s)
		}
		ps := processScale{Instances: n, MemoryMB: current[name].MemoryMB}
		if hasMem {
			m, err := strconv.Atoi(strings.TrimSuffix(strings.ToUpper(mem), "MB"))
			if err != nil || m < 1 {
				return nil, fmt.Errorf("%q: memory must be a number of megabytes", s)
			}
			ps.MemoryMB = m
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("process %s is scaled twice", name)
		}
		out[name] = ps
	}
	return out, nil
}

func (c *cli) scaleCommand() *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "scale ENV PROCESS=INSTANCES[:MEMORY_MB]...",
		Short: "Change how many instances of a process run, and their memory (web=3 or web=3:128)",
		Args:  args(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, envPath, r, err := c.envClient(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			var cur environment
			if _, err := cl.Get(cmd.Context(), envPath, &cur); err != nil {
				return err
			}
			procs, err := parseScale(a[1:], cur.Processes)
			if err != nil {
				return usageErrorf("%v", err)
			}
			resp, err := cl.Request(cmd.Context(), http.MethodPost, envPath+"/scale", "application/json", strings.NewReader(mustJSON(map[string]any{"processes": procs})))
			if err != nil {
				return err
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if resp.StatusCode == http.StatusOK {
				fmt.Fprintf(c.stdout, "Saved the scale of %s: %s; it applies with the first deploy\n", r, scaleText(procs))
				return nil
			}
			fmt.Fprintf(c.stderr, "Scaling %s to %s\n", r, scaleText(procs))
			return c.followDeploy(cmd.Context(), cl, raw, r, detach)
		},
	}
	cmd.Flags().BoolVar(&detach, "detach", false, "return once the deploy is queued")
	return cmd
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func (c *cli) lifecycleCommand(verb, short string) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   verb + " ENV",
		Short: short,
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, p, r, err := c.envClient(cmd.Context(), a[0], verb)
			if err != nil {
				return err
			}
			raw, err := cl.Do(cmd.Context(), http.MethodPost, p, nil)
			if err != nil {
				return err
			}
			return c.followDeploy(cmd.Context(), cl, raw, r, detach)
		},
	}
	cmd.Flags().BoolVar(&detach, "detach", false, "return once the deploy is queued")
	return cmd
}

func (c *cli) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status ENV",
		Short: "Show an environment's release, state, URL and instances",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, p, r, err := c.envClient(cmd.Context(), a[0], "status")
			if err != nil {
				return err
			}
			var st envStatus
			raw, err := cl.Get(cmd.Context(), p, &st)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSON(c.stdout, raw)
			}
			_, err = io.WriteString(c.stdout, formatStatus(r, st))
			return err
		},
	}
}

// formatStatus is `wharf status` as people read it.
func formatStatus(r ref, st envStatus) string {
	var b strings.Builder
	state := "running"
	switch {
	case st.Release == 0:
		state = "never deployed"
	case st.Stopped:
		state = "stopped"
	}
	rel := "-"
	if st.Release > 0 {
		rel = fmt.Sprintf("v%d", st.Release)
	}
	head := table{}
	head.add("Environment", r.String())
	head.add("Release", rel)
	head.add("State", state)
	if st.Deploying != "" {
		head.add("Deploying", st.Deploying)
	}
	head.add("URL", st.URL)
	writeTable(&b, head, "")
	if len(st.Instances) > 0 {
		b.WriteString("\n")
		t := table{header: []string{"instance", "status", "healthy", "job version"}}
		restarted := false
		for _, in := range st.Instances {
			restarted = restarted || in.Restarts > 0 || in.OOMKills > 0
		}
		if restarted {
			t.header = append(t.header, "restarts")
		}
		insts := append([]instance(nil), st.Instances...)
		sort.Slice(insts, func(i, j int) bool {
			if insts[i].Process != insts[j].Process {
				return insts[i].Process < insts[j].Process
			}
			return insts[i].Index < insts[j].Index
		})
		for _, in := range insts {
			h := "pending"
			if in.Healthy != nil {
				h = strconv.FormatBool(*in.Healthy)
			}
			row := []string{fmt.Sprintf("%s.%d", in.Process, in.Index), in.Status, h, fmt.Sprint(in.Version)}
			if restarted {
				row = append(row, restarts(in))
			}
			t.add(row...)
		}
		writeTable(&b, t, "")
	}
	return b.String()
}

func (c *cli) openCommand() *cobra.Command {
	var printOnly bool
	cmd := &cobra.Command{
		Use:   "open ENV",
		Short: "Open an environment's URL in a browser (or print it)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, p, _, err := c.envClient(cmd.Context(), a[0], "status")
			if err != nil {
				return err
			}
			var st envStatus
			if _, err := cl.Get(cmd.Context(), p, &st); err != nil {
				return err
			}
			if !printOnly && isTerminal(os.Stdout) {
				if opener := browserCommand(); opener != "" {
					if err := exec.Command(opener, st.URL).Start(); err == nil {
						fmt.Fprintf(c.stdout, "Opening %s\n", st.URL)
						return nil
					}
				}
			}
			fmt.Fprintln(c.stdout, st.URL)
			return nil
		},
	}
	cmd.Flags().BoolVar(&printOnly, "print", false, "print the URL instead of opening it")
	return cmd
}

// browserCommand is the program that opens a URL on this system, if there is one.
func browserCommand() string {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

func (c *cli) logsCommand() *cobra.Command {
	var follow bool
	var process string
	cmd := &cobra.Command{
		Use:   "logs ENV",
		Short: "Show an environment's output (-f to follow it until Ctrl-C)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, p, _, err := c.envClient(cmd.Context(), a[0], "logs")
			if err != nil {
				return err
			}
			q := []string{}
			if process != "" {
				q = append(q, "process="+process)
			}
			if follow {
				q = append(q, "follow=1")
			}
			if len(q) > 0 {
				p += "?" + strings.Join(q, "&")
			}
			err = cl.Lines(cmd.Context(), p, func(raw json.RawMessage) error {
				if c.output == "json" {
					_, err := fmt.Fprintf(c.stdout, "%s\n", raw)
					return err
				}
				var l logLine
				if err := json.Unmarshal(raw, &l); err != nil {
					return fmt.Errorf("unexpected log line: %v", err)
				}
				_, err := io.WriteString(c.stdout, formatLogLine(l))
				return err
			})
			if follow && errors.Is(err, context.Canceled) {
				return nil // Ctrl-C is how a follow ends
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until Ctrl-C")
	cmd.Flags().StringVarP(&process, "process", "p", "", "only this process's output (web, worker, ...)")
	return cmd
}

// formatLogLine is one line of `wharf logs`: the instance, then what it wrote; stderr
// is marked.
func formatLogLine(l logLine) string {
	src := l.Instance
	if src == "" {
		src = l.Process
	}
	if l.Stream == "stderr" {
		src += " stderr"
	}
	return "[" + src + "] " + l.Line + "\n"
}
