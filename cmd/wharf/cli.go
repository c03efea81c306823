package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wharf-platform/wharf/internal/client"
)

// defaultAddr is where `make dev` serves wharfd.
const defaultAddr = "http://127.0.0.1:18080"

// linkFile names the application a directory (and those beneath it) belongs to.
const linkFile = ".wharf"

// cli is one invocation of wharf: its streams, environment and global flags.
type cli struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer

	output   string // "table" or "json"
	org, app string // --org, --app
}

func newCLI(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) *cli {
	return &cli{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
}

func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "wharf",
		Short: "Deploy and run applications on Wharf",
		Long: `wharf deploys and runs applications on a Wharf platform.

Log in once with "wharf login"; WHARF_ADDR and WHARF_TOKEN override what it stores.
The application is named by --app (and --org), or by a .wharf file in the current
directory or a parent, which "wharf apps create" and "wharf link" write.

Exit codes: 0 success, 1 other failure (such as a failed deploy), 2 usage,
3 authentication or permission, 4 not found, 5 conflict or plan limit,
6 server error or unreachable, 130 interrupted.`,
		Args:          cobra.ArbitraryArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q; see `wharf --help`", args[0])
			}
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if c.output != "table" && c.output != "json" {
				return usageErrorf("--output must be table or json, not %q", c.output)
			}
			return nil
		},
	}
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetIn(c.stdin)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: exitUsage, err: err} })
	pf := root.PersistentFlags()
	pf.StringVarP(&c.output, "output", "o", "table", "output format of read commands: table or json")
	pf.StringVarP(&c.app, "app", "a", "", "the application (default: named by a .wharf file)")
	pf.StringVar(&c.org, "org", "", "the organisation (default: the .wharf file's, or your only one)")

	root.AddCommand(
		c.versionCommand(), c.loginCommand(), c.logoutCommand(),
		c.orgsCommand(), c.cloudspacesCommand(), c.plansCommand(), c.entitlementsCommand(), c.appsCommand(), c.linkCommand(), c.envsCommand(),
		c.envCommand(), c.procfileCommand(), c.servicesCommand(), c.domainsCommand(),
		c.deployCommand(), c.releasesCommand(), c.rollbackCommand(), c.scaleCommand(),
		c.lifecycleCommand("stop", "Stop every instance of an environment (its release is kept)"),
		c.lifecycleCommand("start", "Start a stopped environment again at its scale"),
		c.lifecycleCommand("restart", "Replace every instance of an environment"),
		c.statusCommand(), c.openCommand(), c.logsCommand(),
	)
	root.AddCommand(c.runCommand(), c.runsCommand(), c.execCommand(), c.metricsCommand(), c.gitHookCommand()) // day-two operations (run.go, exec.go, metrics.go, githook.go)
	completeEnvs(root, c.completeEnv)
	return root
}

// completeEnvs has every command whose first argument is an environment complete it
// with the application's environments.
func completeEnvs(cmd *cobra.Command, f cobra.CompletionFunc) {
	for _, sub := range cmd.Commands() {
		if use := strings.Fields(sub.Use); len(use) > 1 && (use[1] == "ENV" || use[1] == "[ENV]") {
			sub.ValidArgsFunction = f
		}
		completeEnvs(sub, f)
	}
}

// completeEnv lists the application's environments for shell completion.
func (c *cli) completeEnv(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	cl, err := c.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	org, app, err := c.appRef(ctx, cl)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	items, err := cl.List(ctx, client.Path("orgs", org, "apps", app, "envs"))
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []cobra.Completion
	for _, it := range items {
		var e environment
		if json.Unmarshal(it, &e) == nil {
			names = append(names, e.Name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// group makes cmd a command that only holds subcommands: without one it prints help,
// with an unknown one it is a usage error.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErrorf("unknown command %q for %q; see `%s --help`", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
		return cmd.Help()
	}
	return cmd
}

// args wraps a cobra argument check so that its failure is a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("%w; usage: %s", err, cmd.UseLine())}
		}
		return nil
	}
}

// config is what `wharf login` stores.
type config struct {
	Addr  string `json:"addr"`
	Token string `json:"token,omitempty"`
}

// configPath is the file `wharf login` writes, under the user's configuration
// directory ($XDG_CONFIG_HOME or ~/.config on Linux).
func (c *cli) configPath() (string, error) {
	dir := c.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := c.getenv("HOME")
		if home == "" {
			d, err := os.UserConfigDir()
			if err != nil {
				return "", err
			}
			return filepath.Join(d, "wharf", "config.json"), nil
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "wharf", "config.json"), nil
}

func (c *cli) loadConfig() (config, error) {
	var cfg config
	p, err := c.configPath()
	if err != nil {
		return cfg, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %v", p, err)
	}
	return cfg, nil
}

// saveConfig writes the configuration readable by its owner only.
func (c *cli) saveConfig(cfg config) (string, error) {
	p, err := c.configPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}

// addr is wharfd's address: WHARF_ADDR, else the stored one, else make dev's.
func (c *cli) addr(cfg config) string {
	a := c.getenv("WHARF_ADDR")
	if a == "" {
		a = cfg.Addr
	}
	if a == "" {
		a = defaultAddr
	}
	return normalizeAddr(a)
}

// normalizeAddr gives an address without a scheme http://, and drops a trailing slash.
func normalizeAddr(a string) string {
	if !strings.Contains(a, "://") {
		a = "http://" + a
	}
	return strings.TrimRight(a, "/")
}

func (c *cli) userAgent() string { return "wharf-cli/" + version }

// client is an authenticated client: WHARF_TOKEN, else the stored token.
func (c *cli) client() (*client.Client, error) {
	cfg, err := c.loadConfig()
	if err != nil {
		return nil, err
	}
	token := c.getenv("WHARF_TOKEN")
	if token == "" {
		token = cfg.Token
	}
	if token == "" {
		return nil, authErrorf("not logged in: run `wharf login` (or set WHARF_TOKEN)")
	}
	return &client.Client{Addr: c.addr(cfg), Token: token, UserAgent: c.userAgent()}, nil
}

// link is what a .wharf file says.
type link struct {
	Org string `json:"org"`
	App string `json:"app"`
}

// findLink reads the nearest .wharf file from the current directory up; it returns
// the zero link when there is none.
func findLink() (link, string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return link{}, "", err
	}
	for {
		p := filepath.Join(dir, linkFile)
		b, err := os.ReadFile(p)
		if err == nil {
			var l link
			if err := json.Unmarshal(b, &l); err != nil {
				return link{}, "", fmt.Errorf("%s: %v", p, err)
			}
			return l, p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return link{}, "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return link{}, "", nil
		}
		dir = parent
	}
}

func writeLink(dir string, l link) (string, error) {
	p := filepath.Join(dir, linkFile)
	b, _ := json.MarshalIndent(l, "", "  ")
	return p, os.WriteFile(p, append(b, '\n'), 0o644)
}

// orgName is the organisation: --org, else the .wharf file's, else the caller's only
// one.
func (c *cli) orgName(ctx context.Context, cl *client.Client) (string, error) {
	if c.org != "" {
		return c.org, nil
	}
	if c.app != "" {
		if org, _, ok := strings.Cut(c.app, "/"); ok {
			return org, nil
		}
	}
	l, _, err := findLink()
	if err != nil {
		return "", err
	}
	if l.Org != "" {
		return l.Org, nil
	}
	items, err := cl.List(ctx, client.Path("orgs"))
	if err != nil {
		return "", err
	}
	if len(items) != 1 {
		return "", usageErrorf("you belong to %d organisations: name one with --org", len(items))
	}
	var o org
	if err := json.Unmarshal(items[0], &o); err != nil {
		return "", err
	}
	return o.Name, nil
}

// appRef is the application: --app (NAME or ORG/NAME), else the .wharf file's.
func (c *cli) appRef(ctx context.Context, cl *client.Client) (org, app string, err error) {
	if c.app != "" {
		if o, a, ok := strings.Cut(c.app, "/"); ok {
			return o, a, nil
		}
		org, err := c.orgName(ctx, cl)
		return org, c.app, err
	}
	l, _, err := findLink()
	if err != nil {
		return "", "", err
	}
	if l.App == "" {
		return "", "", usageErrorf("no application named: pass --app NAME, or run `wharf link NAME` in its directory")
	}
	if c.org != "" {
		return c.org, l.App, nil
	}
	return l.Org, l.App, nil
}

// envClient is a client and the API path of an environment of the current application,
// with more segments after it: what most commands start with.
func (c *cli) envClient(ctx context.Context, env string, more ...string) (*client.Client, string, ref, error) {
	cl, err := c.client()
	if err != nil {
		return nil, "", ref{}, err
	}
	p, r, err := c.envPath(ctx, cl, env, more...)
	return cl, p, r, err
}

// envPath is the API path of an environment of the current application, with more
// segments after it.
func (c *cli) envPath(ctx context.Context, cl *client.Client, env string, more ...string) (string, ref, error) {
	org, app, err := c.appRef(ctx, cl)
	if err != nil {
		return "", ref{}, err
	}
	return client.Path(append([]string{"orgs", org, "apps", app, "envs", env}, more...)...), ref{org, app, env}, nil
}

// ref names an environment in messages.
type ref struct{ org, app, env string }

func (r ref) String() string { return r.org + "/" + r.app + " " + r.env }
