package main

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

// gitHook is an environment's git hook as the API returns it.
type gitHook struct {
	RepoURL   string `json:"repo_url"`
	Branch    string `json:"branch"`
	URL       string `json:"url"`
	Secret    string `json:"secret"`
	CreatedBy string `json:"created_by"`
}

func (c *cli) gitHookCommand() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "git-hook",
		Short: "Deploy an environment on each push to a branch of a git repository",
		Long: `"wharf git-hook set ENV --repo URL --branch BRANCH" makes ENV track BRANCH: give the
git host (GitHub, Gitea or GitLab) the hook URL and secret it prints, for push events
(content type application/json). Each signed push to BRANCH builds the pushed commit and
deploys it, as you; other pushes are ignored, unsigned or replayed ones refused, and each
is in the organisation's audit log.`,
	})
	var repo, branch string
	set := &cobra.Command{
		Use:   "set ENV",
		Short: "Track a branch (a new secret each time; shown once)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			cl, p, r, err := c.envClient(ctx, a[0], "git-hook")
			if err != nil {
				return err
			}
			raw, err := cl.Do(ctx, http.MethodPut, p, map[string]string{"repo_url": repo, "branch": branch})
			if err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSON(c.stdout, raw)
			}
			var h gitHook
			if err := json.Unmarshal(raw, &h); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s now deploys each push to %s of %s.\nGive your git host, for push events (application/json):\n  URL:    %s%s\n  Secret: %s   (shown this once)\n", r, h.Branch, h.RepoURL, cl.Addr, h.URL, h.Secret)
			return nil
		},
	}
	set.Flags().StringVar(&repo, "repo", "", "the repository's clone URL (https://...)")
	set.Flags().StringVar(&branch, "branch", "main", "the branch to deploy")
	show := &cobra.Command{
		Use:   "show ENV",
		Short: "Show what an environment tracks, and its hook URL",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			cl, p, r, err := c.envClient(ctx, a[0], "git-hook")
			if err != nil {
				return err
			}
			var h gitHook
			raw, err := cl.Get(ctx, p, &h)
			if err != nil {
				return err
			}
			return c.show(raw, func() (table, string, error) {
				t := table{}
				t.add("Environment", r.String())
				t.add("Repository", h.RepoURL)
				t.add("Branch", h.Branch)
				t.add("Hook URL", cl.Addr+h.URL)
				t.add("Set by", h.CreatedBy)
				return t, "", nil
			})
		},
	}
	rm := &cobra.Command{
		Use:   "rm ENV",
		Short: "Stop deploying on push",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			cl, p, r, err := c.envClient(ctx, a[0], "git-hook")
			if err != nil {
				return err
			}
			if _, err := cl.Do(ctx, http.MethodDelete, p, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s no longer deploys on push.\n", r)
			return nil
		},
	}
	cmd.AddCommand(set, show, rm)
	return cmd
}
