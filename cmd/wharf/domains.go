package main

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

// domain is a custom domain as the API shows it.
type domain struct {
	Name    string `json:"name"`
	Primary bool   `json:"primary"`
}

func (c *cli) domainsCommand() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "domains",
		Short: "List, add and remove an environment's custom domains",
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "list ENV",
		Short: "List an environment's custom domains",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, p, r, err := c.envClient(cmd.Context(), a[0], "domains")
			if err != nil {
				return err
			}
			return c.list(cmd.Context(), cl, p, func(items []json.RawMessage) (table, string, error) {
				doms, err := decodeAll[domain](items)
				t := table{header: []string{"domain", "primary"}}
				for _, d := range doms {
					primary := ""
					if d.Primary {
						primary = "yes"
					}
					t.add(d.Name, primary)
				}
				return t, "No custom domains in " + r.String() + ".", err
			})
		},
	})
	var primary bool
	add := &cobra.Command{
		Use:   "add ENV DOMAIN",
		Short: "Add a custom domain (--primary: the others redirect to it); point its DNS at the cloudspace's ingress",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, p, r, err := c.envClient(cmd.Context(), a[0], "domains", a[1])
			if err != nil {
				return err
			}
			if _, err := cl.Do(cmd.Context(), http.MethodPut, p, map[string]bool{"primary": primary}); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Added %s to %s\n", a[1], r)
			return nil
		},
	}
	add.Flags().BoolVar(&primary, "primary", false, "make it the environment's primary domain")
	cmd.AddCommand(add, &cobra.Command{
		Use:   "remove ENV DOMAIN",
		Short: "Remove a custom domain",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, p, r, err := c.envClient(cmd.Context(), a[0], "domains", a[1])
			if err != nil {
				return err
			}
			if _, err := cl.Do(cmd.Context(), http.MethodDelete, p, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Removed %s from %s\n", a[1], r)
			return nil
		},
	})
	return cmd
}
