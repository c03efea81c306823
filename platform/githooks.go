package platform

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// GitHook makes an environment track a branch of a git repository: a push to the
// branch, announced by the git host to POST /v1/hooks/git/{id} and signed with the
// hook's secret, builds the pushed commit and deploys it, as CreatedBy (whose role is
// checked at each push).
type GitHook struct {
	ID        string `json:"id"`
	Org       string `json:"org"`
	App       string `json:"app"`
	Env       string `json:"env"`
	RepoURL   string `json:"repo_url"`
	Branch    string `json:"branch"`
	URL       string `json:"url"` // the path to give the git host, under wharfd's address
	CreatedBy string `json:"created_by"`
	Meta
}

// GitHookInput asks for a git hook.
type GitHookInput struct {
	RepoURL string `json:"repo_url"`
	Branch  string `json:"branch"`
}

// GitPushResult says what a push did: deployed (the deploy), or ignored (why).
type GitPushResult struct {
	Outcome string `json:"outcome"` // deployed or ignored
	Reason  string `json:"reason,omitempty"`
	Commit  string `json:"commit,omitempty"`
	Build   string `json:"build,omitempty"`
	Deploy  string `json:"deploy,omitempty"`
}

// GitDeliveryWindow is how long a push's delivery id is remembered: the same delivery
// again within it is a replay, and is refused.
const GitDeliveryWindow = 7 * 24 * time.Hour

func gitHookKey(id string) string { return "git-hooks/" + id }
func envGitHookKey(org, app, env string) string {
	return "env-git-hooks/" + org + "/" + app + "/" + env
}
func gitDeliveryPrefix(id string) string        { return "git-hook-deliveries/" + id + "/" }
func gitDeliveryKey(id, delivery string) string { return gitDeliveryPrefix(id) + delivery }
func gitHookPath(id string) string              { return "/v1/hooks/git/" + id }
func (h GitHook) secretPath() string            { return Ref(h.Org, h.App, h.Env).GitHookSecretPath() }
func hookActor(h GitHook) Principal             { return Principal{Person: h.CreatedBy} }
func hookAuditActor(id string) Principal        { return Principal{Person: "git-hook:" + id[:8]} }
func (in GitHookInput) branchRef() string       { return "refs/heads/" + in.Branch }
func isZeroCommit(sha string) bool              { return strings.Trim(sha, "0") == "" }
func validDelivery(d string) bool               { return d != "" && len(d) <= 100 && CheckDeliveryID(d) }
func (s *Runs) hookSecret(ctx context.Context, h GitHook) (Secret, error) {
	return s.Runtime.SecretValue(ctx, h.secretPath(), 0)
}

// CheckDeliveryID reports whether d is a delivery id as git hosts send them (a UUID or
// a number): letters, digits and "-".
func CheckDeliveryID(d string) bool {
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// PutGitHook makes the environment track in.Branch of in.RepoURL (developer), replacing
// its hook if it has one, with a new secret; it returns the hook and the secret, shown
// this once. Errors: invalid, not_found, forbidden, unavailable.
func (s *Runs) PutGitHook(ctx context.Context, p Principal, ref EnvRef, in GitHookInput) (GitHook, Secret, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return GitHook{}, "", err
	}
	var fe FieldErrors
	if msg := checkGitURL(in.RepoURL, s.GitLocalHosts); msg != "" {
		fe.Add("repo_url", "%s", msg)
	}
	if in.Branch == "" || !gitRefPattern.MatchString(in.Branch) || strings.Contains(in.Branch, "..") || strings.HasPrefix(in.Branch, "-") {
		fe.Add("branch", "must be a branch name")
	}
	if err := fe.Err(); err != nil {
		return GitHook{}, "", err
	}
	e, err := load[Environment](ctx, s.KV, envKey(org, app, env), "environment "+env)
	if err != nil {
		return GitHook{}, "", err
	}
	var b [16]byte
	var sec [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return GitHook{}, "", Wrap(Internal, err, "make a hook id")
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return GitHook{}, "", Wrap(Internal, err, "make a hook secret")
	}
	now := s.now()
	h := GitHook{ID: hex.EncodeToString(b[:]), Org: org, App: app, Env: env, RepoURL: in.RepoURL, Branch: in.Branch, CreatedBy: p.Person}
	h.URL = gitHookPath(h.ID)
	stamp(&h.Meta, now)
	secret := Secret(hex.EncodeToString(sec[:]))
	version, err := s.Secrets.SecretVersion(ctx, h.secretPath())
	if err != nil {
		return GitHook{}, "", err
	}
	if _, err := s.Secrets.PutSecret(ctx, h.secretPath(), secret, version); err != nil {
		return GitHook{}, "", err
	}
	tx := &txn{}
	tx.check(envKey(org, app, env), e.Index)
	tx.create(gitHookKey(h.ID), encode(h))
	if old, err := load[GitHook](ctx, s.KV, envGitHookKey(org, app, env), "git hook"); err == nil {
		tx.deleteKey(gitHookKey(old.ID))
		tx.deleteTree(gitDeliveryPrefix(old.ID))
		tx.update(envGitHookKey(org, app, env), encode(h), old.Index)
	} else if ErrorCode(err) == NotFound {
		tx.create(envGitHookKey(org, app, env), encode(h))
	} else {
		return GitHook{}, "", err
	}
	s.audit(tx, p, org, "git-hook.put", app+"/"+env+" "+in.Branch+" of "+in.RepoURL)
	if err := s.commit(ctx, tx, "the environment"); err != nil {
		return GitHook{}, "", err
	}
	return h, secret, nil
}

// GetGitHook returns the environment's git hook (viewer). Errors: not_found, forbidden.
func (s *Runs) GetGitHook(ctx context.Context, p Principal, ref EnvRef) (GitHook, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActRead); err != nil {
		return GitHook{}, err
	}
	return load[GitHook](ctx, s.KV, envGitHookKey(org, app, env), "git hook of environment "+env)
}

// DeleteGitHook stops the environment tracking a branch (developer). Errors: not_found,
// forbidden.
func (s *Runs) DeleteGitHook(ctx context.Context, p Principal, ref EnvRef) error {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return err
	}
	h, err := load[GitHook](ctx, s.KV, envGitHookKey(org, app, env), "git hook of environment "+env)
	if err != nil {
		return err
	}
	tx := &txn{}
	tx.deleteKey(gitHookKey(h.ID))
	tx.deleteKey(envGitHookKey(org, app, env))
	tx.deleteTree(gitDeliveryPrefix(h.ID))
	s.audit(tx, p, org, "git-hook.delete", app+"/"+env)
	if err := s.commit(ctx, tx, "the git hook"); err != nil {
		return err
	}
	return s.Secrets.DeleteSecret(ctx, h.secretPath())
}

// pushPayload is what GitHub, Gitea and GitLab push events share.
type pushPayload struct {
	Ref   string `json:"ref"`
	After string `json:"after"`
}

// ReceivePush handles a push event for hook id, as a git host sends it: signed with the
// hook's secret (GitHub's X-Hub-Signature-256 or Gitea's X-Gitea-Signature, an HMAC-SHA256
// of the body, or GitLab's X-Gitlab-Token, the secret itself; compared in constant time),
// once (its delivery id, X-GitHub-Delivery, X-Gitea-Delivery or X-Gitlab-Event-UUID,
// is remembered for GitDeliveryWindow). A push to the tracked branch builds its commit and
// deploys it; others are ignored. Every refusal and every ignored push is in the
// organisation's audit log with its reason. Errors: not_found (no such hook),
// unauthorized (unsigned, wrongly signed), conflict (a replay), invalid (not a push).
func (s *Runs) ReceivePush(ctx context.Context, id string, header http.Header, body []byte) (GitPushResult, error) {
	notFound := Errorf(NotFound, "no such hook")
	if len(id) != 32 || !CheckDeliveryID(id) {
		return GitPushResult{}, notFound
	}
	h, err := load[GitHook](ctx, s.KV, gitHookKey(id), "hook")
	if ErrorCode(err) == NotFound {
		return GitPushResult{}, notFound
	}
	if err != nil {
		return GitPushResult{}, err
	}
	refuse := func(code Code, reason string) (GitPushResult, error) {
		tx := &txn{}
		s.audit(tx, hookAuditActor(id), h.Org, "git-push.refused", h.App+"/"+h.Env+": "+reason)
		_ = s.commit(ctx, tx, "the audit log")
		return GitPushResult{}, Errorf(code, "push refused: %s", reason)
	}
	secret, err := s.hookSecret(ctx, h)
	if err != nil {
		return GitPushResult{}, err
	}
	switch {
	case header.Get("X-Hub-Signature-256") != "":
		got, ok := strings.CutPrefix(header.Get("X-Hub-Signature-256"), "sha256=")
		if !ok || !validMAC(body, secret, got) {
			return refuse(Unauthorized, "wrong signature (X-Hub-Signature-256)")
		}
	case header.Get("X-Gitea-Signature") != "":
		if !validMAC(body, secret, header.Get("X-Gitea-Signature")) {
			return refuse(Unauthorized, "wrong signature (X-Gitea-Signature)")
		}
	case header.Get("X-Gitlab-Token") != "":
		if subtle.ConstantTimeCompare([]byte(header.Get("X-Gitlab-Token")), []byte(secret.Reveal())) != 1 {
			return refuse(Unauthorized, "wrong token (X-Gitlab-Token)")
		}
	default:
		return refuse(Unauthorized, "unsigned")
	}
	delivery := ""
	for _, name := range []string{"X-GitHub-Delivery", "X-Gitea-Delivery", "X-Gitlab-Event-UUID"} {
		if v := header.Get(name); v != "" {
			delivery = v
			break
		}
	}
	if !validDelivery(delivery) {
		return refuse(Invalid, "no delivery id (X-GitHub-Delivery, X-Gitea-Delivery or X-Gitlab-Event-UUID)")
	}
	now := s.now()
	tx := &txn{}
	tx.create(gitDeliveryKey(id, delivery), encode(GitDelivery{ID: delivery, Meta: Meta{CreatedAt: now, UpdatedAt: now}}))
	if err := s.KV.Txn(ctx, tx.ops); ErrorCode(err) == Conflict {
		return refuse(Conflict, "delivery "+delivery+" was received before (a replay)")
	} else if err != nil {
		return GitPushResult{}, err
	}
	s.forgetDeliveries(ctx, id, now)

	ignore := func(reason string) (GitPushResult, error) {
		tx := &txn{}
		s.audit(tx, hookAuditActor(id), h.Org, "git-push.ignored", h.App+"/"+h.Env+": "+reason)
		_ = s.commit(ctx, tx, "the audit log")
		return GitPushResult{Outcome: "ignored", Reason: reason}, nil
	}
	if kind := header.Get("X-GitHub-Event") + header.Get("X-Gitea-Event") + header.Get("X-Gitlab-Event"); kind != "" && kind != "push" && kind != "Push Hook" {
		return ignore("not a push event (" + kind + ")")
	}
	var pl pushPayload
	if err := json.Unmarshal(body, &pl); err != nil || pl.Ref == "" {
		return ignore("not a push payload")
	}
	if pl.Ref != (GitHookInput{Branch: h.Branch}).branchRef() {
		return ignore("a push to " + pl.Ref + ", not to " + h.Branch)
	}
	if isZeroCommit(pl.After) {
		return ignore("the branch was deleted")
	}
	if len(pl.After) < 7 || len(pl.After) > 64 || strings.Trim(strings.ToLower(pl.After), "0123456789abcdef") != "" {
		return ignore("the pushed commit is not a commit id")
	}
	actor := hookActor(h)
	b, err := s.CreateBuild(ctx, actor, h.Org, h.App, BuildSource{GitURL: h.RepoURL, GitRef: pl.After}, nil)
	if err != nil {
		return ignore("the build was refused: " + ErrorMessage(err))
	}
	d, err := s.CreateDeploy(ctx, actor, Ref(h.Org, h.App, h.Env), DeployRequest{Kind: DeployRelease, Build: b.ID, GitCommit: pl.After})
	if err != nil {
		_, _ = s.CancelBuild(ctx, actor, h.Org, h.App, b.ID)
		return ignore("the deploy was refused: " + ErrorMessage(err))
	}
	tx = &txn{}
	s.audit(tx, hookAuditActor(id), h.Org, "git-push.deploy", h.App+"/"+h.Env+" "+pl.After+" build "+b.ID+" deploy "+d.ID)
	_ = s.commit(ctx, tx, "the audit log")
	return GitPushResult{Outcome: "deployed", Commit: pl.After, Build: b.ID, Deploy: d.ID}, nil
}

// GitDelivery is a push delivery a hook received, remembered to refuse its replay.
type GitDelivery struct {
	ID string `json:"id"`
	Meta
}

// forgetDeliveries deletes the hook's deliveries older than GitDeliveryWindow.
func (s *Runs) forgetDeliveries(ctx context.Context, id string, now time.Time) {
	old, err := loadAll[GitDelivery](ctx, s.KV, gitDeliveryPrefix(id))
	if err != nil {
		return
	}
	tx := &txn{}
	for _, d := range old {
		if now.Sub(d.CreatedAt) > GitDeliveryWindow {
			tx.deleteKey(gitDeliveryKey(id, d.ID))
		}
	}
	if len(tx.ops) > 0 {
		_ = s.KV.Txn(ctx, tx.ops)
	}
}

// validMAC reports whether hexMAC is the HMAC-SHA256 of body under secret, comparing
// in constant time.
func validMAC(body []byte, secret Secret, hexMAC string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(hexMAC))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret.Reveal()))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
