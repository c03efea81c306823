// Command wharf-builder is the application builder run inside each build job (a Nomad
// batch job on a builder node). It reads its build spec from the cloudspace's registry,
// fetches the codebase (a tarball stored there, or a git repository at a ref), builds
// its Dockerfile against the node's Docker engine (whose layer cache stays on the node
// between builds), pushes the image to the registry, and prints the pushed image by
// digest on its last line:
//
//	wharf-builder: image 127.0.0.1:5000/acme/shop@sha256:...
//
// The spec is fetched rather than passed as arguments because Nomad interpolates a
// task's arguments, and a git URL or ref is a user's value.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

var version = "dev"

// Spec is what one build does; wharfd stores it in the registry as a blob.
type Spec struct {
	// SourceURL is a tar.gz of the codebase, with SourceDigest its sha256 ("sha256:...").
	SourceURL    string `json:"source_url,omitempty"`
	SourceDigest string `json:"source_digest,omitempty"`
	// GitURL and GitRef name a repository and a branch, tag or commit.
	GitURL string `json:"git_url,omitempty"`
	GitRef string `json:"git_ref,omitempty"`
	// Image is the repository and tag to push: registry/org/app:build-id.
	Image string `json:"image"`
	// BaseRepos are the organisation's repositories (registry/repository) a Dockerfile
	// may start FROM; without them, Image's own.
	BaseRepos []string `json:"base_repos,omitempty"`
	Timeout   string   `json:"timeout"`
	// CacheScope is the organisation's secret cache scope: RUN steps reuse only layers
	// built with the same (scopeCache). Empty: the node's cache is shared.
	CacheScope string `json:"cache_scope,omitempty"`
}

func main() {
	if len(os.Args) >= 2 && os.Args[1] == nobodyCommand {
		os.Exit(runNobodyChild(os.Args[2:]))
	}
	showVersion := flag.Bool("version", false, "print the version and exit")
	specURL := flag.String("spec", "", "URL of the build spec (a registry blob)")
	specDigest := flag.String("spec-digest", "", "the spec's sha256 digest")
	workDir := flag.String("work", "", "working directory (default: a temporary one)")
	network := flag.String("network", "none", "Docker network of the build's RUN steps; it must not reach the node's agents")
	credential := flag.String("registry-credential", "", "file holding the build's registry credential (from Vault, in the task's secrets directory)")
	flag.Parse()
	if *showVersion {
		fmt.Println("wharf-builder", version)
		return
	}
	// The end-of-output marker is wharfd's, not the build's: no child process sees it.
	end := os.Getenv(outputEndVar)
	os.Unsetenv(outputEndVar)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := 0
	if err := run(ctx, *specURL, *specDigest, *workDir, *network, *credential); err != nil {
		fmt.Fprintf(os.Stderr, "wharf-builder: build failed: %v\n", err)
		code = 1
	}
	stop()
	endOutput(end, time.Minute)
	os.Exit(code)
}

// outputEndVar names the end-of-output marker wharfd hands a batch task
// (platform/nomad.OutputEndVar).
const outputEndVar = "WHARF_OUTPUT_END"

// endOutput writes the marker end as a line on stdout and on stderr and waits, at most
// wait, for the SIGTERM with which wharfd says it has read both up to it: Nomad can drop
// what a task writes just before it exits. Without a marker it returns at once.
func endOutput(end string, wait time.Duration) {
	if end == "" {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	fmt.Fprintln(os.Stdout, end)
	fmt.Fprintln(os.Stderr, end)
	select {
	case <-sig:
	case <-time.After(wait):
	}
}

func run(ctx context.Context, specURL, specDigest, workDir, network, credential string) error {
	if specURL == "" {
		return errors.New("-spec is required")
	}
	auth, err := loadRegistryAuth(credential)
	if err != nil {
		return err
	}
	b, err := fetch(ctx, auth, specURL, specDigest, 1<<20)
	if err != nil {
		return fmt.Errorf("fetch the build spec: %w", err)
	}
	var spec Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("read the build spec: %w", err)
	}
	timeout, err := time.ParseDuration(spec.Timeout)
	if err != nil || timeout <= 0 {
		timeout = 30 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if workDir == "" {
		if workDir, err = os.MkdirTemp("", "wharf-build-"); err != nil {
			return err
		}
		defer os.RemoveAll(workDir)
	}
	src := filepath.Join(workDir, "src")
	switch {
	case spec.SourceURL != "":
		fmt.Printf("fetching the source %s\n", spec.SourceDigest)
		tgz, err := fetch(ctx, auth, spec.SourceURL, spec.SourceDigest, 2<<30)
		if err != nil {
			return fmt.Errorf("fetch the source: %w", err)
		}
		if err := unpackSource(tgz, src); err != nil {
			return fmt.Errorf("unpack the source: %w", err)
		}
	case spec.GitURL != "":
		fmt.Printf("cloning %s at %s\n", spec.GitURL, spec.GitRef)
		dir, cleanup, err := gitCheckout(ctx, spec.GitURL, spec.GitRef, src)
		defer cleanup()
		if err != nil {
			return err
		}
		src = dir
	default:
		return errors.New("the spec names no source")
	}
	if fi, err := os.Lstat(filepath.Join(src, "Dockerfile")); err != nil || !fi.Mode().IsRegular() {
		return errors.New("the source has no Dockerfile (a regular file) at its top")
	}
	df, err := os.ReadFile(filepath.Join(src, "Dockerfile"))
	if err != nil {
		return err
	}
	own := spec.BaseRepos
	if len(own) == 0 {
		own = []string{repository(spec.Image)}
	}
	if err := checkDockerfile(string(df), own); err != nil {
		return fmt.Errorf("the Dockerfile: %w", err)
	}
	// The docker CLI alone gets the credential, for the FROM pulls and the push.
	dockerEnv, err := auth.dockerConfig(registryHost(spec.Image))
	if err != nil {
		return err
	}
	fmt.Printf("building %s\n", spec.Image)
	// The classic builder, named so that a changed default never brings BuildKit's
	// cache mounts, which would be shared between the node's tenants; its layer cache
	// is scoped to the organisation (scopeCache). RUN steps run on network, which
	// cannot reach the node's agents ("none" by default).
	args := []string{"build", "--pull=false", "--network", network, "-t", spec.Image}
	if spec.CacheScope != "" {
		// The scoped Dockerfile is kept outside the build's context.
		scoped := filepath.Join(workDir, "Dockerfile.wharf")
		if err := os.MkdirAll(workDir, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(scoped, []byte(scopeCache(string(df))), 0o600); err != nil {
			return err
		}
		args = append(args, "-f", scoped, "--build-arg", cacheScopeArg+"="+spec.CacheScope)
	}
	build := exec.CommandContext(ctx, "docker", append(args, src)...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	build.Env = append(append(os.Environ(), dockerEnv...), "DOCKER_BUILDKIT=0")
	if err := build.Run(); err != nil {
		return timedOut(ctx, timeout, fmt.Errorf("docker build: %w", err))
	}
	fmt.Printf("pushing %s\n", spec.Image)
	out, err := commandOutput(ctx, dockerEnv, "docker", "push", spec.Image)
	if err != nil {
		return timedOut(ctx, timeout, fmt.Errorf("docker push: %w", err))
	}
	m := pushDigest.FindStringSubmatch(out)
	if m == nil {
		return errors.New("docker push printed no digest")
	}
	fmt.Printf("wharf-builder: image %s@%s\n", repository(spec.Image), m[1])
	return nil
}

// registryHost is an image reference's registry (its first component).
func registryHost(image string) string {
	host, _, _ := strings.Cut(image, "/")
	return host
}

// repository is an image reference without its tag.
func repository(image string) string {
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		return image[:i]
	}
	return image
}

var pushDigest = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

func timedOut(ctx context.Context, limit time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("the build passed its time limit of %s", limit)
	}
	return err
}

// fetch GETs url (a registry blob), at most limit bytes, and checks its sha256 when
// digest is given. A registry that asks for a token gets one through auth.
func fetch(ctx context.Context, auth *registryAuth, url, digest string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		resp.Body.Close()
		authz, err := auth.authorize(ctx, resp)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", url, err)
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Authorization", authz)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			return nil, err
		}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if digest != "" {
		sum := sha256.Sum256(b)
		if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest {
			return nil, fmt.Errorf("content is %s, not %s", got, digest)
		}
	}
	return b, nil
}

// gitCheckout clones url and checks out ref (a branch, tag or commit), into dir or,
// as root, elsewhere: it returns where, and a cleanup to call in any case.
// wharfd accepts only https:// URLs (and http:// to hosts its operator names); the
// builder holds git to the same: no other transport (file, ssh, git, ext), no
// redirects, none of the node's own git configuration, credentials or keys. As root,
// git runs as nobody (see asNobody), in a directory nobody owns under /tmp: git needs
// to search every directory above its own, and Nomad's allocation directory is closed
// to nobody. A checkout with a symbolic link leading out of it is refused, as an
// unpacked source is.
func gitCheckout(ctx context.Context, url, ref, dir string) (string, func(), error) {
	cleanup := func() {}
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		return "", cleanup, errors.New("git sources must be https:// URLs")
	}
	if strings.HasPrefix(ref, "-") {
		return "", cleanup, fmt.Errorf("git ref %q is not a branch, tag or commit", ref)
	}
	asRoot := os.Getuid() == 0
	if asRoot {
		base, err := os.MkdirTemp("/tmp", "wharf-git-")
		if err != nil {
			return "", cleanup, err
		}
		cleanup = func() { os.RemoveAll(base) }
		if err := os.Chmod(base, 0o711); err != nil {
			return "", cleanup, err
		}
		dir = filepath.Join(base, "src")
		if err := makeNobodysDir(dir); err != nil {
			return "", cleanup, err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", cleanup, err
	}
	env := []string{
		"HOME=/nonexistent", "PATH=" + os.Getenv("PATH"), "GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_ALLOW_PROTOCOL=https:http",
		"GIT_SSH_COMMAND=false", "GIT_ASKPASS=true", "SSH_ASKPASS=true",
	}
	git := func(out io.Writer, args ...string) error {
		args = append([]string{"git", "-c", "http.followRedirects=false", "-c", "credential.helper=", "-c", "protocol.allow=never",
			"-c", "protocol.https.allow=always", "-c", "protocol.http.allow=always", "-c", "core.hooksPath=/dev/null"}, args...)
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir, cmd.Env = dir, env
		if asRoot {
			c, done, err := asNobody(ctx, dir, env, args...)
			if err != nil {
				return err
			}
			defer done()
			cmd = c
		}
		cmd.Stdout, cmd.Stderr = out, os.Stderr
		return cmd.Run()
	}
	if err := git(os.Stdout, "clone", "--quiet", "--no-checkout", "--", url, "."); err != nil {
		return "", cleanup, fmt.Errorf("git clone: %w", err)
	}
	if ref == "" {
		ref = "HEAD"
	}
	if err := git(os.Stdout, "-c", "advice.detachedHead=false", "checkout", "--quiet", ref, "--"); err != nil {
		// A ref that is a remote branch's name.
		if err2 := git(os.Stdout, "checkout", "--quiet", "origin/"+ref, "--"); err2 != nil {
			return "", cleanup, fmt.Errorf("git checkout %s: %w", ref, err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", cleanup, err
	}
	defer root.Close()
	if err := checkLinks(root); err != nil {
		return "", cleanup, fmt.Errorf("the checkout: %w", err)
	}
	var out strings.Builder
	if err := git(&out, "rev-parse", "HEAD"); err != nil {
		return "", cleanup, err
	}
	fmt.Printf("wharf-builder: commit %s\n", strings.TrimSpace(out.String()))
	return dir, cleanup, nil
}

// command runs a command with its output on the builder's, so it reaches the build log.
func command(ctx context.Context, name string, args ...string) error {
	return commandEnv(ctx, os.Environ(), name, args...)
}

// commandEnv is command with the environment env.
func commandEnv(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = env
	return cmd.Run()
}

// commandOutput runs a command with extra environment, echoing and returning its
// standard output.
func commandOutput(ctx context.Context, env []string, name string, args ...string) (string, error) {
	var b strings.Builder
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = io.MultiWriter(os.Stdout, &b), os.Stderr
	err := cmd.Run()
	return b.String(), err
}
