// Package cmdconfig loads a daemon's configuration the way every Wharf daemon does:
// defaults, then an HCL file (-config, or an environment variable naming it), then
// WHARF_* environment variables, then flags, each later source winning. A command
// declares its options once, as a table of Settings; only cmd/ packages use this.
package cmdconfig

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

// Setting is one option of a command C: the environment variable and the flag that set
// it (a secret has no flag: flags show in the process list), the flag's usage, and how a
// value is applied to C.
type Setting[C any] struct {
	Env, Flag, Usage string
	Apply            func(*C, string) error
}

// String applies a value to the string field p points to.
func String[C any](p func(*C) *string) func(*C, string) error {
	return func(c *C, v string) error { *p(c) = v; return nil }
}

// Duration applies a positive Go duration ("30s", "5m") to the string field p points to.
func Duration[C any](p func(*C) *string) func(*C, string) error {
	return func(c *C, v string) error {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			return fmt.Errorf("%q is not a positive duration such as 30s or 5m", v)
		}
		*p(c) = v
		return nil
	}
}

// FileFunc applies the HCL file at path to cfg; settings are the command's options, to
// apply each of the file's values the same way as its variable or flag.
type FileFunc[C any] func(cfg *C, path string, settings Index[C]) error

// Index finds a command's settings by environment variable or by flag.
type Index[C any] struct {
	ByEnv, ByFlag map[string]func(*C, string) error
}

// Load parses args as the command named name does and applies, over cfg's defaults, the
// HCL file named by -config (or by the environment variable configEnv), the
// environment (as os.Environ gives it) and the flags. It returns flag.ErrHelp when -h was
// asked for, and a readable error naming the variable or flag of any bad value.
func Load[C any](name string, args, environ []string, usage io.Writer, configEnv string, settings []Setting[C], cfg *C, applyFile FileFunc[C]) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	configFile := fs.String("config", env[configEnv], "HCL configuration file ("+configEnv+")")
	values := map[string]*string{}
	idx := Index[C]{ByEnv: map[string]func(*C, string) error{}, ByFlag: map[string]func(*C, string) error{}}
	for _, s := range settings {
		if s.Env != "" {
			idx.ByEnv[s.Env] = s.Apply
		}
		if s.Flag != "" {
			idx.ByFlag[s.Flag] = s.Apply
			help := s.Usage
			if s.Env != "" {
				help += " (" + s.Env + ")"
			}
			values[s.Flag] = fs.String(s.Flag, "", help)
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *configFile != "" {
		if err := applyFile(cfg, *configFile, idx); err != nil {
			return err
		}
	}
	for _, s := range settings {
		if v := env[s.Env]; s.Env != "" && v != "" {
			if err := s.Apply(cfg, v); err != nil {
				return fmt.Errorf("%s: %w", s.Env, err)
			}
		}
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		if apply := idx.ByFlag[f.Name]; apply != nil && err == nil {
			if e := apply(cfg, *values[f.Name]); e != nil {
				err = fmt.Errorf("-%s: %w", f.Name, e)
			}
		}
	})
	return err
}

// Value is one value an HCL file set (nil when it did not) and how to apply it.
type Value[C any] struct {
	V     *string
	Apply func(*C, string) error
}

// ApplyValues applies every value the file at path set, naming the file in an error.
func ApplyValues[C any](cfg *C, path string, values ...Value[C]) error {
	for _, v := range values {
		if v.V != nil {
			if err := v.Apply(cfg, *v.V); err != nil {
				return fmt.Errorf("config file %s: %w", path, err)
			}
		}
	}
	return nil
}

// Opt makes a Setting; command tables read better as calls than as keyed literals.
func Opt[C any](env, flag, usage string, apply func(*C, string) error) Setting[C] {
	return Setting[C]{Env: env, Flag: flag, Usage: usage, Apply: apply}
}

// V makes a Value.
func V[C any](v *string, apply func(*C, string) error) Value[C] { return Value[C]{V: v, Apply: apply} }

// FromFile sets *secret to the contents of the file at path (without surrounding white
// space) when *secret is empty and path is not: a secret given as a value wins over its
// file. what names the secret in an error.
func FromFile[S ~string](secret *S, path, what string) error {
	if *secret != "" || path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s file: %w", what, err)
	}
	*secret = S(strings.TrimSpace(string(b)))
	return nil
}

// TLSSettings are the options of a client of an agent's HTTPS API (agent is "consul",
// "nomad" or "vault"): WHARF_<AGENT>_CA_FILE, _CERT_FILE, _KEY_FILE and
// _TLS_SERVER_NAME, and the flags -<agent>-ca-file, -cert-file, -key-file and
// -tls-server-name, into the TLSFiles p points to.
func TLSSettings[C any](agent string, p func(*C) *platform.TLSFiles) []Setting[C] {
	env, flag := "WHARF_"+strings.ToUpper(agent)+"_", agent+"-"
	return []Setting[C]{
		Opt(env+"CA_FILE", flag+"ca-file", "authority (PEM) that signed "+agent+"'s HTTPS certificate", String(func(c *C) *string { return &p(c).CAFile })),
		Opt(env+"CERT_FILE", flag+"cert-file", "client certificate (PEM) for "+agent+"'s mutual TLS", String(func(c *C) *string { return &p(c).CertFile })),
		Opt(env+"KEY_FILE", flag+"key-file", "the client certificate's key (PEM)", String(func(c *C) *string { return &p(c).KeyFile })),
		Opt(env+"TLS_SERVER_NAME", flag+"tls-server-name", "name "+agent+"'s certificate must hold when the address does not (server.<region>.nomad, server.<dc>.consul)", String(func(c *C) *string { return &p(c).ServerName })),
	}
}

// TLSValues are an HCL block's ca_file, cert_file, key_file and tls_server_name, applied
// as the agent's TLSSettings are.
func TLSValues[C any](idx Index[C], agent string, caFile, certFile, keyFile, serverName *string) []Value[C] {
	env := "WHARF_" + strings.ToUpper(agent) + "_"
	return []Value[C]{
		V(caFile, idx.ByEnv[env+"CA_FILE"]), V(certFile, idx.ByEnv[env+"CERT_FILE"]),
		V(keyFile, idx.ByEnv[env+"KEY_FILE"]), V(serverName, idx.ByEnv[env+"TLS_SERVER_NAME"]),
	}
}

// CheckTLS returns an error when a client certificate is given without its key or a key
// without its certificate.
func CheckTLS(agent string, f platform.TLSFiles) error {
	if (f.CertFile == "") != (f.KeyFile == "") {
		return fmt.Errorf("%s: a client certificate (cert_file) needs its key (key_file), and a key its certificate", agent)
	}
	return nil
}
