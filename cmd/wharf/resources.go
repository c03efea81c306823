package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-platform/wharf/internal/client"
)

func (c *cli) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the client's version and the server's",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version
			if commit != "" {
				v += " (" + commit + ")"
			}
			fmt.Fprintf(c.stdout, "client  %s\n", v)
			cfg, err := c.loadConfig()
			if err != nil {
				return err
			}
			cl := &client.Client{Addr: c.addr(cfg), UserAgent: c.userAgent()}
			var sv struct{ Version string }
			if _, err := cl.Get(cmd.Context(), client.Path("version"), &sv); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "server  %s (%s)\n", sv.Version, cl.Addr)
			return nil
		},
	}
}

func (c *cli) loginCommand() *cobra.Command {
	var addr string
	var expiresIn time.Duration
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Store a token for a Wharf server",
		Long: `Reads an API token (from the terminal, or the first line of standard input), checks it
against the server, makes a new token of yours from it that expires (--expires-in, 30
days by default) and stores that with the server's address, readable by you only, under
your configuration directory; the token typed is not stored. WHARF_ADDR and WHARF_TOKEN
override what is stored.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.loadConfig()
			if err != nil {
				return err
			}
			if addr != "" {
				cfg.Addr = normalizeAddr(addr)
			} else {
				cfg.Addr = c.addr(cfg)
			}
			line, err := c.readSecretLine(fmt.Sprintf("Token for %s: ", cfg.Addr))
			token := strings.TrimSpace(line)
			if token == "" {
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				return usageErrorf("no token given: type it, or pipe it on standard input")
			}
			cl := &client.Client{Addr: cfg.Addr, Token: token, UserAgent: c.userAgent()}
			if _, err := cl.Get(cmd.Context(), client.Path("orgs")+"?limit=1", nil); err != nil {
				var ce *client.Error
				if errors.As(err, &ce) && ce.Status == http.StatusUnauthorized {
					return authErrorf("%s refused the token: %v", cfg.Addr, ce)
				}
				return err
			}
			until := ""
			if expiresIn > 0 {
				// The token given is not stored: a token of its person that expires is.
				host, _ := os.Hostname()
				raw, err := cl.Do(cmd.Context(), http.MethodPost, client.Path("people", "me", "tokens"),
					map[string]any{"name": "wharf login on " + host, "expires_in": int64(expiresIn / time.Second)})
				if err != nil {
					return err
				}
				var created struct {
					Token     string     `json:"token"`
					ExpiresAt *time.Time `json:"expires_at"`
				}
				if err := json.Unmarshal(raw, &created); err != nil || created.Token == "" {
					return fmt.Errorf("%s did not return a token: %v", cfg.Addr, err)
				}
				token = created.Token
				if created.ExpiresAt != nil {
					until = " until " + created.ExpiresAt.Local().Format("2006-01-02 15:04")
				}
			}
			cfg.Token = token
			p, err := c.saveConfig(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Logged in to %s%s (token stored in %s)\n", cfg.Addr, until, p)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "wharfd's address (default: WHARF_ADDR, the stored one, or "+defaultAddr+")")
	cmd.Flags().DurationVar(&expiresIn, "expires-in", 30*24*time.Hour, "store a new token of yours that expires after this long instead of the one given (0: store the one given)")
	return cmd
}

func (c *cli) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the stored token",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.loadConfig()
			if err != nil {
				return err
			}
			cfg.Token = ""
			if _, err := c.saveConfig(cfg); err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, "Logged out")
			return nil
		},
	}
}

// readSecretLine reads one line from stdin: from a terminal, after prompt and without
// echoing it.
func (c *cli) readSecretLine(prompt string) (string, error) {
	read := func() (string, error) { return bufio.NewReader(c.stdin).ReadString('\n') }
	f, ok := c.stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return read()
	}
	fmt.Fprint(c.stderr, prompt)
	defer fmt.Fprintln(c.stderr)
	return withoutEcho(f, read)
}

// isTerminal reports whether r is a character device (a terminal).
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// listCommand is a read command showing the list at the path path returns.
func (c *cli) list(ctx context.Context, cl *client.Client, path string, t func([]json.RawMessage) (table, string, error)) error {
	items, err := cl.List(ctx, path)
	if err != nil {
		return err
	}
	return c.show(jsonArray(items), func() (table, string, error) { return t(items) })
}

func (c *cli) orgsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "orgs",
		Short: "List your organisations (or create one)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			return c.list(cmd.Context(), cl, client.Path("orgs"), func(items []json.RawMessage) (table, string, error) {
				orgs, err := decodeAll[org](items)
				t := table{header: []string{"name", "display name", "created"}}
				for _, o := range orgs {
					t.add(o.Name, o.DisplayName, ago(o.CreatedAt, time.Now()))
				}
				return t, "You belong to no organisation.", err
			})
		},
	}
	var display string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an organisation",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if _, err := cl.Do(cmd.Context(), http.MethodPost, client.Path("orgs"), map[string]string{"name": a[0], "display_name": display}); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Created organisation %s\n", a[0])
			return nil
		},
	}
	create.Flags().StringVar(&display, "display-name", "", "the organisation's name as people read it")
	cmd.AddCommand(create)
	return cmd
}

func (c *cli) cloudspacesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cloudspaces",
		Short: "List the cloudspaces applications can run in",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			return c.list(cmd.Context(), cl, client.Path("cloudspaces"), func(items []json.RawMessage) (table, string, error) {
				css, err := decodeAll[cloudspace](items)
				t := table{header: []string{"name", "vendor", "location", "tenancy", "domain"}}
				for _, s := range css {
					t.add(s.Name, s.Vendor, s.Location, s.Tenancy, s.IngressDomain)
				}
				return t, "No cloudspaces.", err
			})
		},
	}
}

func (c *cli) appsCommand() *cobra.Command {
	listApps := func(cmd *cobra.Command, _ []string) error {
		cl, err := c.client()
		if err != nil {
			return err
		}
		o, err := c.orgName(cmd.Context(), cl)
		if err != nil {
			return err
		}
		return c.list(cmd.Context(), cl, client.Path("orgs", o, "apps"), func(items []json.RawMessage) (table, string, error) {
			apps, err := decodeAll[application](items)
			t := table{header: []string{"name", "cloudspace", "plan", "environments", "created"}}
			for _, a := range apps {
				t.add(a.Name, a.Cloudspace, a.Plan, strings.Join(a.Environments, ","), ago(a.CreatedAt, time.Now()))
			}
			return t, "No applications in " + o + ".", err
		})
	}
	cmd := &cobra.Command{
		Use:   "apps",
		Short: "List, create, show and delete applications",
		Args:  args(cobra.NoArgs),
		RunE:  listApps,
	}
	cmd.AddCommand(&cobra.Command{Use: "list", Short: "List the organisation's applications", Args: args(cobra.NoArgs), RunE: listApps})

	var cloudspaceName, plan string
	var noLink bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an application (with its test and live environments) and link this directory to it",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			o, err := c.orgName(cmd.Context(), cl)
			if err != nil {
				return err
			}
			raw, err := cl.Do(cmd.Context(), http.MethodPost, client.Path("orgs", o, "apps"),
				map[string]string{"name": a[0], "cloudspace": cloudspaceName, "plan": plan})
			if err != nil {
				return err
			}
			var app application
			_ = json.Unmarshal(raw, &app)
			fmt.Fprintf(c.stdout, "Created %s/%s in cloudspace %s with environments %s\n", o, a[0], app.Cloudspace, strings.Join(app.Environments, ", "))
			if noLink {
				return nil
			}
			if _, err := os.Stat(linkFile); err == nil {
				fmt.Fprintf(c.stdout, "This directory already has a %s file; left it as it is\n", linkFile)
				return nil
			}
			p, err := writeLink(".", link{Org: o, App: a[0]})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Linked this directory to %s/%s (%s)\n", o, a[0], p)
			return nil
		},
	}
	create.Flags().StringVar(&cloudspaceName, "cloudspace", "", "where the application runs (see `wharf cloudspaces`)")
	create.Flags().StringVar(&plan, "plan", "", "the subscription plan that limits it")
	create.Flags().BoolVar(&noLink, "no-link", false, "do not write a .wharf file in this directory")

	show := &cobra.Command{
		Use:   "show [APP]",
		Short: "Show an application and its environments",
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if len(a) == 1 {
				c.app = a[0]
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			o, name, err := c.appRef(cmd.Context(), cl)
			if err != nil {
				return err
			}
			var app application
			raw, err := cl.Get(cmd.Context(), client.Path("orgs", o, "apps", name), &app)
			if err != nil {
				return err
			}
			return c.show(raw, func() (table, string, error) {
				t := table{}
				t.add("Application", app.Org+"/"+app.Name)
				t.add("Cloudspace", app.Cloudspace)
				t.add("Plan", app.Plan)
				t.add("Environments", strings.Join(app.Environments, ", "))
				t.add("Created", app.CreatedAt.UTC().Format(time.DateTime))
				return t, "", nil
			})
		},
	}

	var confirm string
	del := &cobra.Command{
		Use:   "delete APP --confirm APP",
		Short: "Delete an application: its environments stop and its configuration is removed",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if confirm != a[0] {
				return usageErrorf("deleting %s stops it and removes its configuration for good; confirm with --confirm %s", a[0], a[0])
			}
			c.app = a[0]
			cl, err := c.client()
			if err != nil {
				return err
			}
			o, name, err := c.appRef(cmd.Context(), cl)
			if err != nil {
				return err
			}
			if _, err := cl.Do(cmd.Context(), http.MethodDelete, client.Path("orgs", o, "apps", name), nil); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Deleted %s/%s\n", o, name)
			return nil
		},
	}
	del.Flags().StringVar(&confirm, "confirm", "", "the application's name again")
	cmd.AddCommand(create, show, del)
	return cmd
}

func (c *cli) linkCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "link APP",
		Short: "Name the application this directory belongs to (writes a .wharf file)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			c.app = a[0]
			cl, err := c.client()
			if err != nil {
				return err
			}
			o, name, err := c.appRef(cmd.Context(), cl)
			if err != nil {
				return err
			}
			if _, err := cl.Get(cmd.Context(), client.Path("orgs", o, "apps", name), nil); err != nil {
				return err
			}
			p, err := writeLink(".", link{Org: o, App: name})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Linked this directory to %s/%s (%s)\n", o, name, p)
			return nil
		},
	}
}

// scaleText says how a process runs: 2×64MB.
func scaleText(procs map[string]processScale) string {
	names := make([]string, 0, len(procs))
	for n := range procs {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d×%dMB", n, procs[n].Instances, procs[n].MemoryMB)
	}
	return strings.Join(parts, " ")
}

func (c *cli) envsCommand() *cobra.Command {
	listEnvs := func(cmd *cobra.Command, _ []string) error {
		cl, err := c.client()
		if err != nil {
			return err
		}
		o, app, err := c.appRef(cmd.Context(), cl)
		if err != nil {
			return err
		}
		return c.list(cmd.Context(), cl, client.Path("orgs", o, "apps", app, "envs"), func(items []json.RawMessage) (table, string, error) {
			envs, err := decodeAll[environment](items)
			t := table{header: []string{"name", "scale", "services", "created"}}
			for _, e := range envs {
				var svcs []string
				for _, s := range e.Services {
					svcs = append(svcs, s.Name+"("+s.Kind+")")
				}
				t.add(e.Name, scaleText(e.Processes), strings.Join(svcs, ","), ago(e.CreatedAt, time.Now()))
			}
			return t, "No environments.", err
		})
	}
	cmd := &cobra.Command{
		Use:   "envs",
		Short: "List, create and delete the application's environments",
		Args:  args(cobra.NoArgs),
		RunE:  listEnvs,
	}
	cmd.AddCommand(&cobra.Command{Use: "list", Short: "List the application's environments", Args: args(cobra.NoArgs), RunE: listEnvs})
	cmd.AddCommand(&cobra.Command{
		Use:   "create NAME",
		Short: "Create an environment",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			o, app, err := c.appRef(cmd.Context(), cl)
			if err != nil {
				return err
			}
			if _, err := cl.Do(cmd.Context(), http.MethodPost, client.Path("orgs", o, "apps", app, "envs"), map[string]string{"name": a[0]}); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Created environment %s of %s/%s\n", a[0], o, app)
			return nil
		},
	})
	var confirm string
	del := &cobra.Command{
		Use:   "delete NAME --confirm NAME",
		Short: "Delete an environment: it stops and its configuration is removed",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if confirm != a[0] {
				return usageErrorf("deleting environment %s stops it and removes its configuration for good; confirm with --confirm %s", a[0], a[0])
			}
			cl, p, r, err := c.envClient(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			if _, err := cl.Do(cmd.Context(), http.MethodDelete, p, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Deleted environment %s\n", r)
			return nil
		},
	}
	del.Flags().StringVar(&confirm, "confirm", "", "the environment's name again")
	cmd.AddCommand(del)
	return cmd
}

func (c *cli) envCommand() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "env",
		Short: "List, set and unset an environment's variables",
	})
	listVars := &cobra.Command{
		Use:   "list ENV",
		Short: "List an environment's variables (secret values are never shown)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, p, r, err := c.envClient(cmd.Context(), a[0], "vars")
			if err != nil {
				return err
			}
			return c.list(cmd.Context(), cl, p, func(items []json.RawMessage) (table, string, error) {
				vars, err := decodeAll[variable](items)
				t := table{header: []string{"name", "value", "version", "updated"}}
				for _, v := range vars {
					val := "(secret)"
					if !v.Secret && v.Value != nil {
						val = *v.Value
					}
					t.add(v.Name, val, fmt.Sprint(v.Version), ago(v.UpdatedAt, time.Now()))
				}
				return t, "No variables in " + r.String() + ".", err
			})
		},
	}
	var secret bool
	set := &cobra.Command{
		Use:   "set ENV KEY=VALUE... | set ENV KEY < value",
		Short: "Set variables (they apply with the next deploy); --secret keeps them in Vault",
		Long: `Sets one or more variables. A value given as KEY alone is read from standard input
(for a secret, so that it shows in no process list). Variables apply with the next deploy.`,
		Args: args(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			vals := map[string]string{}
			var order []string
			for _, kv := range a[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					if len(a) != 2 {
						return usageErrorf("%q has no value: write KEY=VALUE, or give one KEY alone and its value on standard input", kv)
					}
					var b []byte
					var err error
					if isTerminal(c.stdin) {
						var line string
						line, err = c.readSecretLine("Value of " + k + ": ")
						b = []byte(line)
					} else {
						b, err = io.ReadAll(c.stdin)
					}
					if err != nil && !errors.Is(err, io.EOF) {
						return err
					}
					v = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
				}
				if k == "" {
					return usageErrorf("%q names no variable", kv)
				}
				vals[k] = v
				order = append(order, k)
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			for _, k := range order {
				p, r, err := c.envPath(cmd.Context(), cl, a[0], "vars", k)
				if err != nil {
					return err
				}
				if _, err := cl.Do(cmd.Context(), http.MethodPut, p, map[string]any{"value": vals[k], "secret": secret}); err != nil {
					return err
				}
				kind := ""
				if secret {
					kind = "secret "
				}
				fmt.Fprintf(c.stdout, "Set %s%s in %s\n", kind, k, r)
			}
			fmt.Fprintln(c.stdout, "Deploy to apply the change.")
			return nil
		},
	}
	set.Flags().BoolVar(&secret, "secret", false, "store the values in Vault; they are never shown again")
	unset := &cobra.Command{
		Use:   "unset ENV KEY...",
		Short: "Remove variables (the change applies with the next deploy)",
		Args:  args(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			for _, k := range a[1:] {
				p, r, err := c.envPath(cmd.Context(), cl, a[0], "vars", k)
				if err != nil {
					return err
				}
				if _, err := cl.Do(cmd.Context(), http.MethodDelete, p, nil); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "Unset %s in %s\n", k, r)
			}
			return nil
		},
	}
	cmd.AddCommand(listVars, set, unset)
	return cmd
}

func (c *cli) procfileCommand() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "procfile",
		Short: "Show or set what an environment runs from its image",
	})
	show := &cobra.Command{
		Use:   "show ENV",
		Short: "Show an environment's processes, release command and cron entries",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, p, _, err := c.envClient(cmd.Context(), a[0], "procfile")
			if err != nil {
				return err
			}
			var pf procfile
			raw, err := cl.Get(cmd.Context(), p, &pf)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSON(c.stdout, raw)
			}
			_, err = io.WriteString(c.stdout, formatProcfile(pf))
			return err
		},
	}
	set := &cobra.Command{
		Use:   "set ENV [FILE]",
		Short: "Set what an environment runs, from a Procfile (default ./Procfile; - reads standard input)",
		Long: `Reads a Procfile: lines "NAME: command"; "release: command" is the release command,
run once per deploy; "cron NAME SCHEDULE: command" (five cron fields) a cron entry; other
names are processes ("web" receives HTTP on $PORT). A file starting with "{" is read as
the API's JSON procfile. The change applies with the next deploy.`,
		Args: args(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			name := "Procfile"
			if len(a) == 2 {
				name = a[1]
			}
			var b []byte
			var err error
			if name == "-" {
				b, err = io.ReadAll(c.stdin)
			} else {
				b, err = os.ReadFile(name)
			}
			if err != nil {
				return err
			}
			pf, err := parseProcfile(string(b))
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("%s: %v", name, err)}
			}
			cl, p, r, err := c.envClient(cmd.Context(), a[0], "procfile")
			if err != nil {
				return err
			}
			if _, err := cl.Do(cmd.Context(), http.MethodPut, p, pf); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Set the procfile of %s: %d process(es), %d cron entr(ies); deploy to apply it\n", r, len(pf.Processes), len(pf.Cron))
			return nil
		},
	}
	cmd.AddCommand(show, set)
	return cmd
}

// parseProcfile reads Procfile text (or the API's JSON procfile).
func parseProcfile(s string) (procfile, error) {
	pf := procfile{Processes: map[string]processDef{}, Cron: []cronEntry{}}
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&pf); err != nil {
			return pf, err
		}
		if pf.Cron == nil {
			pf.Cron = []cronEntry{}
		}
		return pf, nil
	}
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, command, ok := strings.Cut(line, ":")
		command = strings.TrimSpace(command)
		if !ok || command == "" {
			return pf, fmt.Errorf("line %d: want NAME: command", i+1)
		}
		f := strings.Fields(name)
		switch {
		case len(f) == 1 && f[0] == "release":
			pf.ReleaseCommand = command
		case len(f) == 1:
			if _, dup := pf.Processes[f[0]]; dup {
				return pf, fmt.Errorf("line %d: process %s is declared twice", i+1, f[0])
			}
			pf.Processes[f[0]] = processDef{Command: command}
		case len(f) == 7 && f[0] == "cron":
			pf.Cron = append(pf.Cron, cronEntry{Name: f[1], Schedule: strings.Join(f[2:], " "), Command: command})
		default:
			return pf, fmt.Errorf("line %d: %q is neither a process name, release, nor cron NAME and five schedule fields", i+1, name)
		}
	}
	return pf, nil
}

// formatProcfile writes pf as parseProcfile reads it.
func formatProcfile(pf procfile) string {
	var b strings.Builder
	names := make([]string, 0, len(pf.Processes))
	for n := range pf.Processes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "%s: %s\n", n, pf.Processes[n].Command)
	}
	if pf.ReleaseCommand != "" {
		fmt.Fprintf(&b, "release: %s\n", pf.ReleaseCommand)
	}
	for _, e := range pf.Cron {
		fmt.Fprintf(&b, "cron %s %s: %s\n", e.Name, e.Schedule, e.Command)
	}
	if b.Len() == 0 {
		return "# no processes yet: set them with `wharf procfile set`\n"
	}
	return b.String()
}
