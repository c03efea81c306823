package platform

import (
	"context"
	"strings"
	"testing"
)

func TestCheckGitURL(t *testing.T) {
	local := []string{"127.0.0.1:9418", "git.internal:443"}
	for _, tc := range []struct {
		url, refused string // refused: a part of the reason; "" when accepted
	}{
		{"https://github.com/acme/shop.git", ""},
		{"https://git.example.com:8443/acme/shop", ""},
		{"HTTPS://github.com/acme/shop", ""},
		{"http://127.0.0.1:9418/app.git", ""},  // named by the operator
		{"https://git.internal/acme/shop", ""}, // named by the operator, default port
		{"http://github.com/acme/shop", "http://"},
		{"http://127.0.0.1:9419/app.git", "http://"},
		{"https://127.0.0.1:8500/v1/kv", "builder's own network"},
		{"https://localhost/x", "builder's own network"},
		{"https://consul.service.localhost/x", "builder's own network"},
		{"https://[::1]:8200/x", "builder's own network"},
		{"https://10.0.0.5/x", "builder's own network"},
		{"https://169.254.169.254/latest", "builder's own network"},
		{"https://0.0.0.0/x", "builder's own network"},
		{"https://2130706433/x", "builder's own network"},
		{"https://0x7f.1/x", "builder's own network"},
		{"https://gitserver/x", "builder's own network"},
		{"file:///etc", "file:// is not accepted"},
		{"FILE:///etc", "is not accepted"},
		{"git://github.com/acme/shop", "git:// is not accepted"},
		{"ssh://git@github.com/acme/shop", "deploy key"},
		{"git@github.com:acme/shop.git", "local paths, scp-like"},
		{"/srv/git/shop.git", "local paths"},
		{"../shop.git", "local paths"},
		{"ext::sh -c touch% /tmp/pwned", "must be"},
		{"ext::sh", "local paths"},
		{"-uhttps://x", "option"},
		{"--upload-pack=touch /tmp/x", "must be"},
		{"https://user:token@github.com/acme/shop", "credentials"},
		{"https://github.com/acme/shop\n", "must be"},
		{"https:///nohost", "must be"},
		{"https://" + strings.Repeat("a", 1100), "must be"},
	} {
		msg := checkGitURL(tc.url, local)
		if tc.refused == "" && msg != "" || tc.refused != "" && !strings.Contains(msg, tc.refused) {
			t.Errorf("checkGitURL(%q) = %q, want refused for %q", tc.url, msg, tc.refused)
		}
	}
}

func TestSplitImage(t *testing.T) {
	for ref, want := range map[string]string{
		"busybox":                              "docker.io library/busybox",
		"wharf/busybox:1":                      "docker.io wharf/busybox",
		"127.0.0.1:5000/acme/shop@sha256:abcd": "127.0.0.1:5000 acme/shop",
		"127.0.0.1:5000/acme/shop:build-1":     "127.0.0.1:5000 acme/shop",
		"localhost:5000/victim/app":            "localhost:5000 victim/app",
		"registry.example.com/x/y:2@sha256:ab": "registry.example.com x/y",
		"localhost/victim/app":                 "localhost victim/app",
	} {
		if h, r := splitImage(ref); h+" "+r != want {
			t.Errorf("splitImage(%q) = %s %s, want %s", ref, h, r, want)
		}
	}
}

// TestCheckImageAllowed covers the operator's list; an organisation's own images are
// covered end to end (e2e TestBuildIsolation), as they need the store.
func TestCheckImageAllowed(t *testing.T) {
	d := &Deployer{AllowedImages: []string{"wharf/busybox", "wharf-e2e", "registry.example.com", "docker.io/library/postgres", "ghcr.io/acme/"}}
	for image, ok := range map[string]bool{
		"wharf/busybox:1":                     true,
		"docker.io/wharf/busybox@sha256:ab":   true,
		"wharf/busyboxer:1":                   false,
		"wharf/other:1":                       false,
		"wharf-e2e/dbapp:1234":                true, // a namespace, as the e2e tests allow
		"wharf-e2e:1":                         false,
		"registry.example.com/any/thing:1":    true,
		"registry.example.com.evil.io/x:1":    false,
		"postgres:15":                         true,
		"ghcr.io/acme/app:1":                  true,
		"ghcr.io/acmeevil/app:1":              false,
		"127.0.0.1:5000/victim/app@sha256:ab": false,
	} {
		err := d.checkImage(context.Background(), "acme", image)
		if ok != (err == nil) || err != nil && ErrorCode(err) != Forbidden {
			t.Errorf("checkImage(%q) = %v, want allowed %v", image, err, ok)
		}
	}
}
