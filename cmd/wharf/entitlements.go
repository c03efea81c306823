package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-platform/wharf/internal/client"
)

type (
	// plan is a plan as the API shows it.
	plan struct {
		Name   string `json:"name"`
		Public bool   `json:"public"`
		Limits struct {
			Environments        int `json:"environments"`
			InstancesPerProcess int `json:"instances_per_process"`
			MemoryMBPerInstance int `json:"memory_mb_per_instance"`
			ServiceInstances    int `json:"service_instances"`
			CustomDomains       int `json:"custom_domains"`
			UploadMB            int `json:"upload_mb"`
		} `json:"limits"`
	}
	// entitlement lets an organisation use a plan that is not public or a dedicated
	// cloudspace.
	entitlement struct {
		Kind      string    `json:"kind"`
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"created_at"`
	}
)

func (c *cli) plansCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "plans",
		Short: "List the plans and their limits (a plan that is not public needs an entitlement)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			return c.list(cmd.Context(), cl, client.Path("plans"), func(items []json.RawMessage) (table, string, error) {
				pls, err := decodeAll[plan](items)
				t := table{header: []string{"name", "public", "environments", "instances", "memory mb", "services", "domains", "upload mb"}}
				for _, p := range pls {
					l := p.Limits
					t.add(p.Name, yesNo(p.Public), strconv.Itoa(l.Environments), strconv.Itoa(l.InstancesPerProcess),
						strconv.Itoa(l.MemoryMBPerInstance), strconv.Itoa(l.ServiceInstances), strconv.Itoa(l.CustomDomains), strconv.Itoa(l.UploadMB))
				}
				return t, "No plans.", err
			})
		},
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// entitlementsCommand lists an organisation's entitlements and, for platform
// administrators, grants and revokes them.
func (c *cli) entitlementsCommand() *cobra.Command {
	list := func(cmd *cobra.Command, _ []string) error {
		cl, err := c.client()
		if err != nil {
			return err
		}
		o, err := c.orgName(cmd.Context(), cl)
		if err != nil {
			return err
		}
		return c.list(cmd.Context(), cl, client.Path("orgs", o, "entitlements"), func(items []json.RawMessage) (table, string, error) {
			es, err := decodeAll[entitlement](items)
			t := table{header: []string{"kind", "name", "granted"}}
			for _, e := range es {
				t.add(e.Kind, e.Name, ago(e.CreatedAt, time.Now()))
			}
			return t, o + " may use the public plans and cloudspaces only.", err
		})
	}
	cmd := &cobra.Command{
		Use:   "entitlements",
		Short: "List the plans that are not public and the dedicated cloudspaces the organisation may use",
		Args:  args(cobra.NoArgs),
		RunE:  list,
	}
	change := func(use, short, method, done string) *cobra.Command {
		return &cobra.Command{
			Use:       use + " plan|cloudspace NAME",
			Short:     short,
			Args:      args(cobra.ExactArgs(2)),
			ValidArgs: []string{"plan", "cloudspace"},
			RunE: func(cmd *cobra.Command, a []string) error {
				if a[0] != "plan" && a[0] != "cloudspace" {
					return usageErrorf("the first argument must be plan or cloudspace, not %q", a[0])
				}
				cl, err := c.client()
				if err != nil {
					return err
				}
				o, err := c.orgName(cmd.Context(), cl)
				if err != nil {
					return err
				}
				if _, err := cl.Do(cmd.Context(), method, client.Path("orgs", o, "entitlements", a[0]+"s", a[1]), nil); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "%s %s %s %s\n", done, o, a[0], a[1])
				return nil
			},
		}
	}
	cmd.AddCommand(
		&cobra.Command{Use: "list", Short: cmd.Short, Args: args(cobra.NoArgs), RunE: list},
		change("grant", "Entitle the organisation (--org) to a plan or a dedicated cloudspace (administrators)", http.MethodPut, "Entitled"),
		change("revoke", "Take an entitlement away (administrators); applications already there keep running", http.MethodDelete, "Revoked the entitlement of"),
	)
	return cmd
}
