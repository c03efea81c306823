package platform_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wharf-platform/wharf/ingress"
	"github.com/wharf-platform/wharf/jobspecs"
	"github.com/wharf-platform/wharf/platform"
)

// A name of one namespace (the system it goes to) and what it was derived from.
type derived struct {
	space, name, from string
}

// allNames derives every external name of r, with sub (a DNS label: a cron entry,
// service instance or build), n (a release) and id (16 hex digits: a database
// instance).
func allNames(r platform.EnvRef, sub string, n int, id string) []derived {
	from := func(kind string, extra ...string) string {
		return fmt.Sprintf("%q", append([]string{kind, r.Org, r.App, r.Env}, extra...))
	}
	fromApp := func(kind string, extra ...string) string {
		return fmt.Sprintf("%q", append([]string{kind, r.Org, r.App}, extra...))
	}
	db := platform.DatabaseNames(id)
	st := platform.StorageNames(id)
	return []derived{
		{"nomad-job", r.JobID(), from("service")},
		{"nomad-job", r.ReleaseJobID(n), from("release", fmt.Sprint(n))},
		{"nomad-job", r.CronJobID(sub), from("cron", sub)},
		{"nomad-job", r.BackupsJobID(sub), from("backups", sub)},
		{"nomad-job", r.BackupJobID(sub, "0a1b2c3d"), from("backup", sub)},
		{"nomad-job", r.RestoreJobID(sub, "0a1b2c3d"), from("restore", sub)},
		{"nomad-job", r.AppRef().BuildJobID(sub), fromApp("build", sub)},
		{"nomad-job", r.RunJobID(sub), from("run", sub)},
		{"consul-service", r.ServiceName(), from("service")},
		{"vault-policy", r.VaultPolicy(), from("env-policy")},
		{"vault-policy", platform.BackupPolicy(db.CredentialsRole), fmt.Sprintf("%q", []string{"backup-policy", id})},
		{"vault-kv", r.RuntimePath(), from("runtime")},
		{"vault-kv", r.SecretKeyPath(), from("secret-key")},
		{"vault-kv", r.RunsPath(), from("runs")},
		{"vault-kv", "wharf/" + r.GitHookSecretPath(), from("git-hook")},
		{"vault-kv", "wharf/" + r.SecretPath(strings.ToUpper(strings.ReplaceAll(sub, "-", "_"))), from("secret", sub)},
		{"route", ingress.RouteKey("local", r.RouteApp(), r.Env), from("route")},
		{"host", r.Host("localhost"), from("host")},
		{"registry", r.AppRef().ImageRepo(), fromApp("image")},
		{"registry", r.AppRef().SourceRepo(), fromApp("sources")},
		{"registry", r.AppRef().BackupRepo(), fromApp("backups")},
		{"postgres", db.Database, fmt.Sprintf("%q", []string{"database", id})},
		{"postgres", db.Owner, fmt.Sprintf("%q", []string{"owner", id})},
		{"vault-db-role", db.CredentialsRole, fmt.Sprintf("%q", []string{"role", id})},
		{"s3-bucket", st.Bucket, fmt.Sprintf("%q", []string{"bucket", id})},
		{"s3-account", st.AccessKey, fmt.Sprintf("%q", []string{"account", id})},
		{"vault-kv", platform.StorageCredentialsPath(st.CredentialsRole), fmt.Sprintf("%q", []string{"storage-keys", id})},
		{"s3-bucket", platform.StorageBackupBucket, `"backup-bucket"`},
		{"s3-backup-key", r.StorageBackupKey(sub, "b20261202-101010-0a1b2c"), from("storage-backup", sub)},
	}
}

// checkValid reports a name its system would refuse.
func checkValid(t *testing.T, d derived) {
	t.Helper()
	bad := func(why string) { t.Errorf("%s name %q (from %s) %s", d.space, d.name, d.from, why) }
	switch d.space {
	case "nomad-job":
		if !jobspecs.ValidJobID(d.name) {
			bad("is not a job ID the templates take")
		}
	case "consul-service":
		if len(d.name) > 63 || platform.CheckName(d.name) != "" {
			bad("is not an RFC 1123 label of at most 63 characters")
		}
	case "vault-policy":
		env, backup := jobspecs.ValidEnvPolicy(d.name), jobspecs.ValidBackupPolicy(d.name)
		if env == backup || env != strings.HasPrefix(d.name, platform.EnvPolicyPrefix) ||
			backup != strings.HasPrefix(d.name, platform.BackupPolicyPrefix) {
			bad(fmt.Sprintf("is environment policy %v and backup policy %v", env, backup))
		}
	case "host":
		if platform.CheckDomainName(d.name) != "" || len(d.name) > 253 {
			bad("is not a DNS name")
		}
	case "route":
		f := strings.Split(d.name, "/")
		rt := ingress.Route{Version: ingress.RouteVersion, Cloudspace: f[0], App: f[1], Env: f[2],
			Hosts: []string{"a.localhost"}, Primary: "a.localhost", Service: "s"}
		if len(f) != 3 || rt.Validate() != nil || rt.Key() != d.name {
			bad("is not a route key")
		}
	case "s3-bucket":
		// S3: 3 to 63 of [a-z0-9.-], starting and ending with a letter or digit; no dots
		// here, so a bucket is one DNS label of a virtual-hosted URL.
		if len(d.name) < 3 || len(d.name) > 63 || platform.CheckName(d.name) != "" {
			bad("is not an S3 bucket name")
		}
	case "s3-account":
		if len(d.name) > 32 || strings.Trim(d.name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			bad("is not an upper-case access key id")
		}
	case "postgres":
		if len(d.name) > 63 || strings.Trim(d.name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			bad("is not a plain PostgreSQL identifier of at most 63 bytes")
		}
	}
}

// checkDistinct fails when one name of a namespace comes from two inputs.
func checkDistinct(t *testing.T, names []derived) {
	t.Helper()
	seen := map[[2]string]string{}
	for _, d := range names {
		k := [2]string{d.space, d.name}
		if prev, ok := seen[k]; ok && prev != d.from {
			t.Errorf("%s name %q comes from both %s and %s", d.space, d.name, prev, d.from)
		}
		seen[k] = d.from
	}
}

func TestIdentityExamples(t *testing.T) {
	r := platform.Ref("acme", "shop", "live")
	for _, c := range []struct{ name, got, want string }{
		{"job", r.JobID(), "wharf.env.acme.shop.live.service"},
		{"release job", r.ReleaseJobID(3), "wharf.env.acme.shop.live.release.3"},
		{"cron job", r.CronJobID("tick"), "wharf.env.acme.shop.live.cron.tick"},
		{"backups job", r.BackupsJobID("db"), "wharf.env.acme.shop.live.backups.db"},
		{"build job", r.AppRef().BuildJobID("20261126-211814598337-313a56"), "wharf.build.acme.shop.20261126-211814598337-313a56"},
		{"policy", r.VaultPolicy(), "wharf-env.acme.shop.live"},
		{"backup policy", platform.BackupPolicy("wharf-0123456789abcdef"), "wharf-backup.wharf-0123456789abcdef"},
		{"runtime", r.RuntimePath(), "wharf/_runtime/acme/shop/live"},
		{"run job", r.RunJobID("20261202-163000123456-0a1b2c"), "wharf.env.acme.shop.live.run.20261202-163000123456-0a1b2c"},
		{"runs", r.RunsPath(), "wharf/_runs/acme/shop/live"},
		{"route app", r.RouteApp(), "acme.shop"},
		{"host", r.Host("localhost"), "live.shop.acme.localhost"},
		{"service prefix", r.ServiceName()[:len("wharf-acme-shop-live-")], "wharf-acme-shop-live-"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}

	// Issue 12, attack 1: acme/my-shop and acme-my/shop shared every name.
	victim, attacker := platform.Ref("acme", "my-shop", "live"), platform.Ref("acme-my", "shop", "live")
	checkDistinct(t, append(allNames(victim, "db", 1, "0123456789abcdef"), allNames(attacker, "db", 1, "fedcba9876543210")...))
	for _, pair := range [][2]string{
		{victim.JobID(), attacker.JobID()}, {victim.ServiceName(), attacker.ServiceName()},
		{victim.VaultPolicy(), attacker.VaultPolicy()}, {victim.RouteApp(), attacker.RouteApp()},
		{victim.Host("localhost"), attacker.Host("localhost")},
	} {
		if pair[0] == pair[1] {
			t.Errorf("victim and attacker share %q", pair[0])
		}
	}
	// No sub-job of an environment is listed under another environment's prefix.
	if other := platform.Ref("acme", "my-shop", "live-2"); strings.HasPrefix(other.JobID(), victim.JobPrefix()) ||
		strings.HasPrefix(victim.CronJobID("x"), other.JobPrefix()) {
		t.Error("one environment's jobs are under another's prefix")
	}

	// Issue 12, attack 2: the backup policy of role wharf-<hex> was the environment policy
	// of org backup, app wharf, environment <hex>.
	hex := "0123456789abcdef"
	env := platform.Ref("backup", "wharf", hex)
	if bp := platform.BackupPolicy("wharf-" + hex); bp == env.VaultPolicy() || !jobspecs.ValidBackupPolicy(bp) ||
		jobspecs.ValidEnvPolicy(bp) || jobspecs.ValidBackupPolicy(env.VaultPolicy()) {
		t.Errorf("backup policy %q and environment policy %q meet", bp, env.VaultPolicy())
	}

	// Issue 12, attack 3: <app>-<env> left out the organisation and a-b+c was a+b-c.
	if platform.Ref("acme", "shop", "live").Host("localhost") == platform.Ref("0", "shop", "live").Host("localhost") ||
		platform.Ref("o", "a-b", "c").Host("x") == platform.Ref("o", "a", "b-c").Host("x") {
		t.Error("generated hosts collide")
	}

	// The longest names still fit their systems.
	long := strings.Repeat("a", 63)
	for _, d := range allNames(platform.Ref(long, long+"", long), long[:30], 1<<30, hex) {
		checkValid(t, d)
	}
}

// label maps arbitrary bytes onto a DNS label's alphabet, so the fuzzer explores names.
func label(s string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-"
	b := make([]byte, 0, min(len(s), 63))
	for i := 0; i < len(s) && len(b) < 63; i++ {
		b = append(b, alphabet[int(s[i])%len(alphabet)])
	}
	return string(b)
}

// hexID maps a number onto an instance id, 16 hex digits.
func hexID(n uint64) string { return fmt.Sprintf("%016x", n) }

// FuzzIdentity holds the derivation of platform/identity.go: two distinct references
// (with their sub-names) never give one name of any kind, names of different kinds never
// meet, and every name is valid where it goes.
func FuzzIdentity(f *testing.F) {
	f.Add("acme", "my-shop", "live", "db", 1, uint64(1), "acme-my", "shop", "live", "db", 1, uint64(2))
	f.Add("backup", "wharf", "0123456789abcdef", "db", 1, uint64(0x0123456789abcdef), "acme", "shop", "live", "db", 2, uint64(0x0123456789abcdef))
	f.Add("a-b", "c", "d", "e", 1, uint64(3), "a", "b-c", "d", "e", 1, uint64(3))
	f.Add("a", "b", "c", "service", 1, uint64(3), "a", "b", "c.service", "x", 1, uint64(3))
	f.Add("a", "b", "c", "d", 1, uint64(4), "a", "b", "c", "d", 2, uint64(4))
	f.Add("o", "a", "live", "x", 7, uint64(5), "o", "a", "live--x", "y", 7, uint64(6))
	f.Fuzz(func(t *testing.T, o1, a1, e1, s1 string, n1 int, id1 uint64, o2, a2, e2, s2 string, n2 int, id2 uint64) {
		r1, r2 := platform.Ref(label(o1), label(a1), label(e1)), platform.Ref(label(o2), label(a2), label(e2))
		s1, s2 = label(s1), label(s2)
		if r1.Check() != nil || r2.Check() != nil || platform.CheckName(s1) != "" || platform.CheckName(s2) != "" {
			t.Skip()
		}
		n1, n2 = max(n1, 0), max(n2, 0)
		names := append(allNames(r1, s1, n1, hexID(id1)), allNames(r2, s2, n2, hexID(id2))...)
		for _, d := range names {
			checkValid(t, d)
		}
		checkDistinct(t, names)
		// An environment's prefix lists its own jobs and no other environment's.
		if r1 != r2 {
			for _, d := range allNames(r2, s2, n2, hexID(id2)) {
				if d.space == "nomad-job" && strings.HasPrefix(d.name, r1.JobPrefix()) {
					t.Errorf("%s's job %q is under %s's prefix %q", r2, d.name, r1, r1.JobPrefix())
				}
			}
		}
		if got, ok := platform.ParseServiceJobID(r1.JobID()); !ok || got != r1 {
			t.Errorf("ParseServiceJobID(%q) = %v, %v", r1.JobID(), got, ok)
		}
		if got, ok := platform.ParseRouteName(r1.RouteApp() + "/" + r1.Env); !ok || got != r1 {
			t.Errorf("ParseRouteName of %v = %v, %v", r1, got, ok)
		}
		if _, ok := platform.ParseServiceJobID(r1.ReleaseJobID(1)); ok {
			t.Errorf("ParseServiceJobID takes a release job")
		}
		if platform.IsBackupsJobID(r1.JobID()) || platform.IsBackupsJobID(r1.CronJobID(s1)) || !platform.IsBackupsJobID(r1.BackupsJobID(s1)) {
			t.Error("IsBackupsJobID tells backup schedules wrong")
		}
	})
}
