package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wharf-platform/wharf/internal/client"
)

// The API's resources as the provider reads and writes them. They mirror wharfd's JSON
// (platform's types), not its Go types: the wire format is the contract.
type (
	organisation struct {
		Name        string `json:"name"`
		DisplayName string `json:"display_name"`
	}
	application struct {
		Org          string   `json:"org"`
		Name         string   `json:"name"`
		Cloudspace   string   `json:"cloudspace"`
		Plan         string   `json:"plan"`
		Environments []string `json:"environments"`
	}
	processScale struct {
		Instances int `json:"instances"`
		MemoryMB  int `json:"memory_mb"`
	}
	environment struct {
		Org       string                  `json:"org"`
		App       string                  `json:"app"`
		Name      string                  `json:"name"`
		Processes map[string]processScale `json:"processes"`
	}
	variable struct {
		Name    string  `json:"name"`
		Secret  bool    `json:"secret"`
		Value   *string `json:"value"`
		Version int     `json:"version"`
	}
	processDef struct {
		Command    string `json:"command"`
		HealthPath string `json:"health_path,omitempty"`
	}
	cronEntry struct {
		Name     string `json:"name"`
		Schedule string `json:"schedule"`
		Command  string `json:"command"`
	}
	procfile struct {
		Processes      map[string]processDef `json:"processes"`
		ReleaseCommand string                `json:"release_command,omitempty"`
		Cron           []cronEntry           `json:"cron"`
	}
	domain struct {
		Name    string `json:"name"`
		Primary bool   `json:"primary"`
	}
	deployEvent struct {
		At      time.Time `json:"at"`
		Phase   string    `json:"phase"`
		Message string    `json:"message"`
	}
	deploy struct {
		ID      string        `json:"id"`
		Kind    string        `json:"kind"`
		Image   string        `json:"image"`
		Release int           `json:"release"`
		Status  string        `json:"status"`
		Phase   string        `json:"phase"`
		Events  []deployEvent `json:"events"`
		Error   string        `json:"error"`
	}
	release struct {
		Number int    `json:"number"`
		Image  string `json:"image"`
	}
	instance struct {
		ID      string `json:"id"`
		Process string `json:"process"`
		Index   int    `json:"index"`
		Status  string `json:"status"`
		Healthy *bool  `json:"healthy"`
	}
	envStatus struct {
		Release   int        `json:"release"`
		Stopped   bool       `json:"stopped"`
		Deploying string     `json:"deploying"`
		Instances []instance `json:"instances"`
		URL       string     `json:"url"`
	}
	build struct {
		ID string `json:"id"`
	}
	member struct {
		Org    string `json:"org"`
		Person string `json:"person"`
		Role   string `json:"role"`
	}
	service struct {
		Name      string `json:"name"`
		Kind      string `json:"kind"`
		Prefix    string `json:"prefix"`
		State     string `json:"state"`
		Database  string `json:"database"`
		Bucket    string `json:"bucket"`
		Endpoint  string `json:"endpoint"`
		PublicURL string `json:"public_url"`
		Error     string `json:"error"`
	}
	cloudspace struct {
		Name          string `json:"name"`
		Vendor        string `json:"vendor"`
		Location      string `json:"location"`
		Tenancy       string `json:"tenancy"`
		Region        string `json:"region"`
		NodePool      string `json:"node_pool"`
		IngressDomain string `json:"ingress_domain"`
		IngressPort   int    `json:"ingress_port"`
		Registry      string `json:"registry"`
	}
	limits struct {
		Environments        int `json:"environments"`
		InstancesPerProcess int `json:"instances_per_process"`
		MemoryMBPerInstance int `json:"memory_mb_per_instance"`
		ServiceInstances    int `json:"service_instances"`
		CustomDomains       int `json:"custom_domains"`
		UploadMB            int `json:"upload_mb"`
	}
	plan struct {
		Name   string `json:"name"`
		Public bool   `json:"public"`
		Limits limits `json:"limits"`
	}
	routing struct {
		HTTPSRedirect  bool   `json:"https_redirect"`
		ProtectionUser string `json:"protection_user"`
	}
)

// api is the provider's connection to wharfd: the CLI's client, plus what a
// provider needs on top of it (versions for read-modify-write, waiting for deploys).
type api struct {
	c *client.Client
}

// get decodes GET path into out and returns the resource's ETag.
func (a *api) get(ctx context.Context, path string, out any) (string, error) {
	raw, h, err := a.c.Send(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return "", err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return "", fmt.Errorf("GET %s: unexpected answer: %w", path, err)
		}
	}
	return h.Get("ETag"), nil
}

// send sends in as JSON (when not nil), with If-Match when ifMatch is not empty, and
// decodes the answer into out (when not nil). Without If-Match, a request that met
// another writer's change of the same record (a transient conflict) is sent again; with
// one, the conflict is the caller's to resolve by reading again.
func (a *api) send(ctx context.Context, method, path, ifMatch string, in, out any) error {
	var h http.Header
	if ifMatch != "" {
		h = http.Header{"If-Match": {ifMatch}}
	}
	var raw []byte
	err := retry(ctx, func() error {
		var err error
		raw, _, err = a.c.Send(ctx, method, path, h, in)
		if ifMatch != "" && err != nil {
			return permanent{err}
		}
		return err
	})
	if err != nil {
		return err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return nil
}

// list reads every item of the list at path into out (a pointer to a slice).
func (a *api) list(ctx context.Context, path string, out any) error {
	items, err := a.c.List(ctx, path)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(items)
	return json.Unmarshal(b, out)
}

// notFound reports whether err says the resource does not exist.
func notFound(err error) bool { return client.Code(err) == "not_found" }

// conflict reports whether err is a conflict (a changed version, a deploy in progress).
func conflict(err error) bool { return client.Code(err) == "conflict" }

// retryWindow bounds how long a request waits out transient conflicts (a deploy in
// progress, say).
const retryWindow = 10 * time.Minute

// transient reports whether err is a conflict that goes away by itself: another
// request changed the record meanwhile (wharfd says to read it again and retry), or a
// deploy in progress refuses the change until it ends.
func transient(err error) bool {
	if !conflict(err) {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "another request") || strings.Contains(msg, "in progress")
}

// permanent marks an error retry must not retry.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// retry runs f until it returns anything but a transient conflict, or ctx ends, or
// retryWindow has passed: the read-modify-write of a record that several resources
// share (the procfile, an environment's scale and services, its routing) meets other
// writers' versions, and an environment busy with a deploy refuses deletes.
func retry(ctx context.Context, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, retryWindow)
	defer cancel()
	delay := 200 * time.Millisecond
	for {
		err := f()
		var p permanent
		if errors.As(err, &p) {
			return p.error
		}
		if !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		if delay < 3*time.Second {
			delay *= 2
		}
	}
}

// envPath is an environment's API path, with more segments below it.
func envPath(org, app, env string, more ...string) string {
	return client.Path(append([]string{"orgs", org, "apps", app, "envs", env}, more...)...)
}

// waitIdle waits until no deploy is in progress in the environment.
func (a *api) waitIdle(ctx context.Context, org, app, env string) error {
	for {
		var st envStatus
		if _, err := a.get(ctx, envPath(org, app, env, "status"), &st); err != nil {
			return err
		}
		if st.Deploying == "" {
			return nil
		}
		if err := a.follow(ctx, org, app, env, st.Deploying, nil); err != nil && ctx.Err() != nil {
			return err
		}
	}
}

// startDeploy posts a deploy request to path (deploys, scale, stop), waiting for a
// deploy in progress to end first; it returns the deploy, or ok false when wharfd
// answered without one (a scale with nothing running).
func (a *api) startDeploy(ctx context.Context, org, app, env, path string, in any) (deploy, bool, error) {
	for {
		raw, h, err := a.c.Send(ctx, http.MethodPost, envPath(org, app, env, path), nil, in)
		if conflict(err) && strings.Contains(err.Error(), "in progress") {
			if err := a.waitIdle(ctx, org, app, env); err != nil {
				return deploy{}, false, err
			}
			continue
		}
		if conflict(err) && strings.Contains(err.Error(), "retry") {
			// The environment changed under the request: ask again.
			select {
			case <-ctx.Done():
				return deploy{}, false, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return deploy{}, false, err
		}
		if h.Get("Location") == "" || !strings.Contains(h.Get("Location"), "/deploys/") {
			return deploy{}, false, nil
		}
		var d deploy
		if err := json.Unmarshal(raw, &d); err != nil {
			return deploy{}, false, fmt.Errorf("POST %s: unexpected answer: %w", path, err)
		}
		return d, true, nil
	}
}

// follow reads the deploy's events until it ends, handing each to progress (when not
// nil), and returns an error naming why it failed when it did.
func (a *api) follow(ctx context.Context, org, app, env, id string, progress func(deployEvent)) error {
	var done *deploy
	err := a.c.Events(ctx, envPath(org, app, env, "deploys", id, "events"), func(ev client.Event) bool {
		switch ev.Name {
		case "progress":
			var e deployEvent
			if json.Unmarshal(ev.Data, &e) == nil && progress != nil {
				progress(e)
			}
		case "done":
			var d deploy
			if json.Unmarshal(ev.Data, &d) == nil {
				done = &d
			}
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	if done == nil {
		// The stream ended early (a wharfd replica stopped): read where it is.
		var d deploy
		if _, err := a.get(ctx, envPath(org, app, env, "deploys", id), &d); err != nil {
			return err
		}
		if d.Status != "succeeded" && d.Status != "failed" {
			return a.follow(ctx, org, app, env, id, progress)
		}
		done = &d
	}
	if done.Status == "failed" {
		return &deployFailed{d: *done}
	}
	return nil
}

// deployFailed is a deploy that ended failed: its error and its last events.
type deployFailed struct{ d deploy }

func (e *deployFailed) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deploy %s failed: %s", e.d.ID, e.d.Error)
	evs := e.d.Events
	if len(evs) > 15 {
		evs = evs[len(evs)-15:]
	}
	if len(evs) > 0 {
		b.WriteString("\n\nIts last events:")
		for _, ev := range evs {
			fmt.Fprintf(&b, "\n  %s  %-16s %s", ev.At.UTC().Format("15:04:05"), ev.Phase, ev.Message)
		}
	}
	return b.String()
}
