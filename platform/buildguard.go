package platform

import (
	"context"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxGitURLLength bounds a build's git URL.
const MaxGitURLLength = 1024

// checkGitURL returns why raw is not a git URL a build may clone, or "". Builds clone on
// the builder node, beside its agents, so only https:// is accepted, to a host that is
// not on loopback or a link-local, private or unspecified address (as an IP literal or
// a name such as "localhost"); hosts in localHosts (host:port, set by the operator:
// their own git server, or a test's on loopback) are accepted over http:// or https://.
// Every other form is refused: file://, git://, ext::, local paths, scp-like
// user@host:path, ssh:// (which would need a deploy key per application; Wharf has none
// yet, and the builder's own keys must never serve a tenant), anything that looks like
// an option, and URLs carrying credentials (they would be stored in Consul KV).
func checkGitURL(raw string, localHosts []string) string {
	const want = "must be an https:// URL of a git repository"
	if raw == "" || len(raw) > MaxGitURLLength || !utf8.ValidString(raw) || strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return want
	}
	if strings.HasPrefix(raw, "-") {
		return want + ", not an option"
	}
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return want + " (local paths, scp-like and ext:: addresses are not accepted)"
	}
	switch strings.ToLower(scheme) {
	case "https", "http":
	case "ssh":
		return want + ": ssh:// would need a deploy key for the application, which Wharf does not offer yet"
	default:
		return want + "; " + scheme + ":// is not accepted"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return want
	}
	if u.User != nil {
		return want + ", without credentials in it"
	}
	host := strings.ToLower(u.Host)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if slices.Contains(localHosts, net.JoinHostPort(u.Hostname(), port)) || slices.Contains(localHosts, host) {
		return ""
	}
	if u.Scheme != "https" {
		return want + "; http:// is accepted only for the hosts the operator names"
	}
	if localHost(u.Hostname()) {
		return want + " of a host outside the cloudspace: " + u.Hostname() + " is on the builder's own network"
	}
	return ""
}

// localHost reports whether host names the builder node itself or a network the
// cloudspace's agents live on.
func localHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || !strings.Contains(h, ".") && !strings.Contains(h, ":") {
		return true // a bare name resolves on the node's own search domains
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	if ip == nil {
		// Hex, octal or short forms that inet_aton takes as addresses (0x7f.1,
		// 2130706433, 017700000001) are refused whatever they mean.
		for _, part := range strings.Split(h, ".") {
			if _, err := strconv.ParseUint(part, 0, 32); err != nil {
				return false
			}
		}
		return true
	}
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast()
}

// checkImage returns a forbidden error unless image (a reference deployed by name) is
// one of the organisation's own images in the cloudspace's registry (a repository of
// one of its applications) or from where the operator allows (AllowedImages, each a
// prefix of whole components: a registry, "registry.example.com"; a namespace or
// repository, "docker.io/library/postgres", "wharf/busybox" (Docker Hub's)).
// An environment deploying another tenant's image would run that tenant's code under
// its own configuration.
func (d *Deployer) checkImage(ctx context.Context, org, image string) error {
	host, repo := splitImage(image)
	for _, allowed := range d.AllowedImages {
		if prefix := allowedPrefix(allowed); host+"/"+repo == prefix || strings.HasPrefix(host+"/"+repo+"/", prefix+"/") {
			return nil
		}
	}
	if d.Artifacts != nil && host == d.Artifacts.Host() {
		apps, err := loadAll[Application](ctx, d.KV, appPrefix(org))
		if err != nil {
			return err
		}
		for _, a := range apps {
			if repo == (AppRef{Org: org, App: a.Name}).ImageRepo() {
				return nil
			}
		}
		return Errorf(Forbidden, "image %s is not one of organisation %s's images: an environment deploys only its organisation's images in the cloudspace's registry", image, org)
	}
	return Errorf(Forbidden, "image %s is from a registry the operator does not allow: an environment deploys its organisation's images in the cloudspace's registry (%s), or images the operator allows", image, d.registryHost())
}

func (d *Deployer) registryHost() string {
	if d.Artifacts == nil {
		return "none"
	}
	return d.Artifacts.Host()
}

// allowedPrefix reads an AllowedImages entry as host/path, Docker Hub's when its first
// component is no registry.
func allowedPrefix(entry string) string {
	entry = strings.Trim(entry, "/")
	first, _, _ := strings.Cut(entry, "/")
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return entry
	}
	return "docker.io/" + entry
}

// splitImage splits an image reference into its registry host and repository, as
// Docker reads it: a first component with a dot or a colon, or "localhost", is a
// registry; without one the registry is Docker Hub (docker.io), whose one-component
// repositories are under library/. A tag or digest is dropped.
func splitImage(ref string) (host, repo string) {
	name, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	first, rest, ok := strings.Cut(name, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first, rest
	}
	if !ok {
		return "docker.io", "library/" + name
	}
	return "docker.io", name
}
