package nomad

import (
	"context"
	"strings"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/jobspecs"
	"github.com/wharf-platform/wharf/platform"
)

// RunBuild runs one build job on the cloudspace's builder nodes: wharf-builder with the
// spec at specURL. It hands every line the build writes to emit as it comes, waits until
// the job ends, and purges it. When ctx ends first (a cancel, a time limit) the job is
// stopped and ctx's error returned. Errors: invalid, unavailable, ctx's.
func (c *Client) RunBuild(ctx context.Context, t platform.Target, b platform.BuildJob, emit func(line string)) (platform.BuildResult, error) {
	region := t.Cloudspace.Region
	id := t.AppRef().BuildJobID(b.Build)
	vars := jobspecs.BuildVars{
		Region: region, Datacenters: c.runtime.Datacenters, NodePool: t.Cloudspace.NodePool,
		Builder: c.runtime.Builder, SpecURL: b.SpecURL, SpecDigest: b.SpecDigest, Network: c.runtime.BuildNetwork,
		Meta: map[string]string{"wharf_org": t.Org, "wharf_app": t.App, "wharf_build": b.Build},
	}
	if b.CredentialPath != "" {
		vars.VaultPolicy, vars.CredentialPath = b.VaultPolicy, "secret/data/"+b.CredentialPath
	}
	job, err := jobspecs.Render(ctx, c, id, vars)
	if err != nil {
		return platform.BuildResult{}, err
	}
	var res platform.BuildResult
	alloc, err := c.runBatch(ctx, region, job, "build", func(_, l string) {
		if img, ok := strings.CutPrefix(l, "wharf-builder: image "); ok {
			res.Image = strings.TrimSpace(img)
		}
		if commit, ok := strings.CutPrefix(l, "wharf-builder: commit "); ok {
			res.Commit = strings.TrimSpace(commit)
		}
		emit(l)
	})
	if err != nil {
		return res, err
	}
	res.Failed = alloc.ClientStatus != nomadapi.AllocClientStatusComplete || res.Image == ""
	if res.Failed {
		res.Reason = "the build failed; see its log"
		if st := alloc.TaskStates["build"]; st != nil {
			for _, ev := range st.Events {
				if ev.Type == nomadapi.TaskDriverFailure || ev.Type == nomadapi.TaskSetupFailure {
					res.Reason = ev.DisplayMessage
				}
			}
		}
	}
	return res, nil
}

// NodeImages returns the images of the allocations on the node named node in region
// that are to run and are pending or running: what the node's Docker engine may pull.
// Errors: not_found (no such node), unavailable.
func (c *Client) NodeImages(ctx context.Context, region, node string) ([]string, error) {
	q := c.query(ctx, region)
	nodes, _, err := c.api.Nodes().List(q)
	if err != nil {
		return nil, translate(err, "list nodes")
	}
	var id string
	for _, n := range nodes {
		if n.Name == node {
			id = n.ID
		}
	}
	if id == "" {
		return nil, platform.Errorf(platform.NotFound, "no node %q in region %s", node, region)
	}
	allocs, _, err := c.api.Nodes().Allocations(id, q)
	if err != nil {
		return nil, translate(err, "list the node's allocations")
	}
	var images []string
	for _, a := range allocs {
		if a.DesiredStatus != nomadapi.AllocDesiredStatusRun || a.ClientStatus != nomadapi.AllocClientStatusPending && a.ClientStatus != nomadapi.AllocClientStatusRunning || a.Job == nil {
			continue
		}
		for _, g := range a.Job.TaskGroups {
			if g.Name == nil || a.TaskGroup != *g.Name {
				continue
			}
			for _, task := range g.Tasks {
				if img, ok := task.Config["image"].(string); ok && task.Driver == "docker" {
					images = append(images, img)
				}
			}
		}
	}
	return images, nil
}

var _ platform.NodeImages = (*Client)(nil)
