package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// registryAuth is the build's registry credential: wharfd made it when it submitted
// the build and handed it to the job through Vault (the job's template writes it into
// the task's secrets directory; it is never in the job's specification). With it,
// wharfd's token endpoint grants this build, while it runs, a push of its
// application's image and pulls of its organisation's images and of its sources.
type registryAuth struct {
	credential string
	dir        string // the Docker configuration the docker CLI is given (DOCKER_CONFIG)
}

// loadRegistryAuth reads the credential at path; an empty path is no credential (an
// open registry).
func loadRegistryAuth(path string) (*registryAuth, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("the registry credential: %w", err)
	}
	cred := strings.TrimSpace(string(b))
	if cred == "" {
		return nil, errors.New("the registry credential is empty")
	}
	return &registryAuth{credential: cred, dir: filepath.Join(filepath.Dir(path), "docker")}, nil
}

// dockerConfig writes the Docker configuration with the credential for the registry
// host, in a 0700 directory beside the credential (never inside the build's context),
// and returns the environment that points the docker CLI at it. Build containers get
// none of it: the CLI hands the engine the credential for pulls and the push only.
func (a *registryAuth) dockerConfig(host string) ([]string, error) {
	if a == nil {
		return nil, nil
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{
		host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("build:" + a.credential))},
	}})
	if err := os.WriteFile(filepath.Join(a.dir, "config.json"), b, 0o600); err != nil {
		return nil, err
	}
	return []string{"DOCKER_CONFIG=" + a.dir}, nil
}

// authorize answers a registry's 401 (token authentication): it asks the realm the
// challenge names for a token of the challenge's scope with the credential, and
// returns the Authorization header to send again with. Errors say why not.
func (a *registryAuth) authorize(ctx context.Context, resp *http.Response) (string, error) {
	if a == nil {
		return "", errors.New("the registry asks for credentials and the build has none")
	}
	params, ok := bearerChallenge(resp.Header.Get("WWW-Authenticate"))
	if !ok || params["realm"] == "" {
		return "", errors.New("the registry's challenge names no token realm")
	}
	realm, err := url.Parse(params["realm"])
	if err != nil || (realm.Scheme != "http" && realm.Scheme != "https") {
		return "", fmt.Errorf("the registry's token realm %q is not an http(s) URL", params["realm"])
	}
	q := realm.Query()
	for _, k := range []string{"service", "scope"} {
		if v := params[k]; v != "" {
			q.Set(k, v)
		}
	}
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth("build", a.credential)
	tr, err := noRedirects.Do(req)
	if err != nil {
		return "", err
	}
	defer tr.Body.Close()
	if tr.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the registry's token endpoint answered %s", tr.Status)
	}
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(tr.Body).Decode(&tok); err != nil {
		return "", fmt.Errorf("the registry's token endpoint: %w", err)
	}
	if tok.Token == "" {
		tok.Token = tok.AccessToken
	}
	return "Bearer " + tok.Token, nil
}

// noRedirects never follows a redirect with the credential.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// bearerChallenge reads `Bearer realm="…",service="…",scope="…"`.
func bearerChallenge(h string) (map[string]string, bool) {
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil, false
	}
	params := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		k, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				return nil, false
			}
			v, rest = after[1:1+end], after[2+end:]
		} else {
			v, rest, _ = strings.Cut(after, ",")
		}
		params[strings.TrimSpace(k)] = v
	}
	return params, true
}
