package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

// service is an environment's service instance as the API shows it (never a credential).
type service struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Prefix   string `json:"prefix"`
	State    string `json:"state"`
	Database string `json:"database"`
	Bucket   string `json:"bucket"`
	// PublicURL serves a storage instance's objects under public/ to anyone.
	PublicURL string `json:"public_url"`
	Error     string `json:"error"`
}

// variable is the instance's main variable: <PREFIX>_DATABASE_DSN or
// <PREFIX>_STORAGE_DSN.
func (s service) variable() string {
	if s.Kind == "storage" {
		return s.Prefix + "_STORAGE_DSN"
	}
	return s.Prefix + "_DATABASE_DSN"
}

// where is the instance's database or bucket.
func (s service) where() string {
	if s.Kind == "storage" {
		return s.Bucket
	}
	return s.Database
}

func (c *cli) servicesCommand() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "services",
		Short: "List, add and remove an environment's service instances (PostgreSQL databases, S3 storage buckets)",
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "list ENV",
		Short: "List an environment's service instances",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, p, r, err := c.envClient(cmd.Context(), a[0], "services")
			if err != nil {
				return err
			}
			return c.list(cmd.Context(), cl, p, func(items []json.RawMessage) (table, string, error) {
				svcs, err := decodeAll[service](items)
				t := table{header: []string{"name", "kind", "variables", "state", "database/bucket", "public url", "error"}}
				for _, s := range svcs {
					t.add(s.Name, s.Kind, s.variable(), s.State, s.where(), s.PublicURL, s.Error)
				}
				return t, "No service instances in " + r.String() + ".", err
			})
		},
	})

	var kind, prefix string
	add := &cobra.Command{
		Use:   "add ENV NAME",
		Short: "Add a PostgreSQL database (--kind postgres) or an S3 bucket (--kind storage) to an environment; its credentials reach the app from the next deploy",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, p, r, err := c.envClient(cmd.Context(), a[0], "services")
			if err != nil {
				return err
			}
			in := map[string]string{"name": a[1], "kind": kind}
			if prefix != "" {
				in["prefix"] = prefix
			}
			raw, err := cl.Do(cmd.Context(), http.MethodPost, p, in)
			if err != nil {
				return err
			}
			var s service
			_ = json.Unmarshal(raw, &s)
			fmt.Fprintf(c.stdout, "Added %s (%s, %s) to %s: deploy to give the app %s\n", s.Name, s.Kind, s.State, r, s.variable())
			if s.PublicURL != "" {
				fmt.Fprintf(c.stdout, "Objects under public/ are served to anyone at %s<key>\n", s.PublicURL)
			}
			return nil
		},
	}
	add.Flags().StringVar(&kind, "kind", "postgres", "the kind of service: postgres or storage")
	add.Flags().StringVar(&prefix, "prefix", "", "prefix of its variables, PREFIX_DATABASE_DSN or PREFIX_STORAGE_DSN (default DEFAULT, which also sets DATABASE_URL, or AWS_* and S3_*)")

	var confirm string
	remove := &cobra.Command{
		Use:   "remove ENV NAME --confirm NAME",
		Short: "Remove a service instance for good: its database (or bucket, with every object) is deleted and its credentials revoked",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if confirm != a[1] {
				return usageErrorf("removing %s deletes its data and every credential for good; confirm with --confirm %s", a[1], a[1])
			}
			cl, p, r, err := c.envClient(cmd.Context(), a[0], "services", a[1])
			if err != nil {
				return err
			}
			if _, err := cl.Do(cmd.Context(), http.MethodDelete, p+"?confirm="+url.QueryEscape(confirm), nil); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Removed %s from %s\n", a[1], r)
			return nil
		},
	}
	remove.Flags().StringVar(&confirm, "confirm", "", "the service instance's name again")

	for _, verb := range []struct{ name, short, done string }{
		{"detach", "Stop giving the app a service instance's credentials from the next deploy (its data is kept)", "Detached"},
		{"attach", "Give the app a detached service instance's credentials again from the next deploy", "Attached"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   verb.name + " ENV NAME",
			Short: verb.short,
			Args:  args(cobra.ExactArgs(2)),
			RunE: func(cmd *cobra.Command, a []string) error {
				cl, p, r, err := c.envClient(cmd.Context(), a[0], "services", a[1], verb.name)
				if err != nil {
					return err
				}
				if _, err := cl.Do(cmd.Context(), http.MethodPost, p, nil); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "%s %s in %s; deploy to apply it\n", verb.done, a[1], r)
				return nil
			},
		})
	}
	cmd.AddCommand(add, remove)
	return cmd
}
