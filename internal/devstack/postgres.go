package devstack

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBinDir is where Debian's postgresql 15 package installs initdb and postgres.
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

// PostgresConfig configures the cloudspace's PostgreSQL cluster: one server on
// 127.0.0.1, run as the postgres system user (PostgreSQL refuses to run as root), with
// scram-sha-256 authentication and a generated superuser password. A zero port is chosen
// free.
type PostgresConfig struct {
	BinDir string // initdb and postgres; PostgresBinDir when empty
	// DataDir keeps the superuser's password (0600). The cluster's own files live where
	// the postgres user can reach them (see Keep), outside directories only root may
	// enter.
	DataDir string
	Port    int
	// Keep keeps the cluster across restarts (make dev) in a directory under /var/tmp
	// named after DataDir; otherwise it lives in a new directory under /tmp, removed on
	// Stop.
	Keep bool
	// Bridge, when set, is the stack's task network: the server listens on its gateway
	// too (Addr is then there, for tasks and the node alike), tasks are let through the
	// bridge's fence to it, and pg_hba.conf lets them log in only as ordinary users to
	// databases other than the cluster's own.
	Bridge *Bridge
	Log    LogFunc
}

// Postgres is a running PostgreSQL server.
type Postgres struct {
	Addr          string // 127.0.0.1:port
	AdminUser     string // the superuser, "postgres"
	AdminPassword string
	// PasswordFile holds AdminPassword (0600, owned by the caller's user).
	PasswordFile string
	proc         *Process
	clusterDir   string
	remove       bool
}

// StartPostgres initialises the cluster the first time, starts the server and returns
// once it accepts the superuser's login.
func StartPostgres(cfg PostgresConfig) (_ *Postgres, err error) {
	if cfg.BinDir == "" {
		cfg.BinDir = PostgresBinDir
	}
	if err := freePorts(&cfg.Port); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	cred, uid, gid, err := postgresUser()
	if err != nil {
		return nil, err
	}
	pg := &Postgres{Addr: addr(cfg.Port), AdminUser: "postgres", PasswordFile: filepath.Join(cfg.DataDir, "postgres-password"), remove: !cfg.Keep}
	if cfg.Keep {
		sum := sha256.Sum256([]byte(cfg.DataDir))
		pg.clusterDir = filepath.Join("/var/tmp", "wharf-postgres-"+hex.EncodeToString(sum[:6]))
		if err := os.MkdirAll(pg.clusterDir, 0o700); err != nil {
			return nil, err
		}
	} else if pg.clusterDir, err = os.MkdirTemp("/tmp", "wharf-postgres-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && pg.remove {
			os.RemoveAll(pg.clusterDir)
		}
	}()
	if err := os.Chown(pg.clusterDir, uid, gid); err != nil {
		return nil, err
	}
	data := filepath.Join(pg.clusterDir, "data")
	sockets := filepath.Join(pg.clusterDir, "sockets")

	pw, err := os.ReadFile(pg.PasswordFile)
	_, statErr := os.Stat(filepath.Join(data, "PG_VERSION"))
	if err != nil || statErr != nil {
		// A cluster without its password (or a password without its cluster) is made
		// anew: nothing else could log in to it.
		if err := os.RemoveAll(data); err != nil {
			return nil, err
		}
		if pw, err = initPostgres(cfg, cred, uid, gid, pg.clusterDir, data); err != nil {
			return nil, err
		}
		if err := os.WriteFile(pg.PasswordFile, pw, 0o600); err != nil {
			return nil, err
		}
	}
	pg.AdminPassword = strings.TrimSpace(string(pw))
	listen := "127.0.0.1"
	if br := cfg.Bridge; br != nil {
		listen += "," + br.Gateway.String()
		pg.Addr = br.Addr(cfg.Port)
		if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), hba(br), 0o600); err != nil {
			return nil, err
		}
		if err := os.Chown(filepath.Join(data, "pg_hba.conf"), uid, gid); err != nil {
			return nil, err
		}
		if err := br.Allow(cfg.Port); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(sockets, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chown(sockets, uid, gid); err != nil {
		return nil, err
	}
	p, err := startAs(cred, "postgres", cfg.Log, filepath.Join(cfg.BinDir, "postgres"), []string{
		"-D", data, "-h", listen, "-p", strconv.Itoa(cfg.Port), "-k", sockets,
		"-c", "shared_buffers=16MB", "-c", "max_connections=100", "-c", "fsync=" + onOff(cfg.Keep),
		"-c", "log_min_messages=warning", "-c", "log_connections=off",
	})
	if err != nil {
		return nil, err
	}
	pg.proc = p
	if err := waitFor("postgres", 60*time.Second, p, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pg.URL("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}); err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	return pg, nil
}

// hba is the cluster's pg_hba.conf beside a task bridge: the node (loopback, and the
// gateway, from which the node's own connections to the gateway come) may log in as
// anyone; from the bridge's other addresses, the tasks', the superuser and the cluster's
// own databases are refused, and ordinary users (Vault's per-instance users, whose
// CONNECT privilege reaches only their instance's database) need their password.
func hba(br *Bridge) []byte {
	return []byte(fmt.Sprintf(`# Written by Wharf's devstack at every start.
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all %[1]s/32 scram-sha-256
host postgres,template0,template1 all %[2]s reject
host all postgres %[2]s reject
host all all %[2]s scram-sha-256
`, br.Gateway, br.Subnet))
}

// URL is a connection URL for the superuser to database db.
func (pg *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", pg.AdminUser, pg.AdminPassword, pg.Addr, db)
}

// Stop stops the server (SIGINT: a fast shutdown) and, unless it is kept, removes its
// files.
func (pg *Postgres) Stop() error {
	err := pg.proc.Stop(20 * time.Second)
	if pg.remove {
		err = errors.Join(err, os.RemoveAll(pg.clusterDir))
	}
	return err
}

// Exited is closed when the server has ended.
func (pg *Postgres) Exited() <-chan struct{} { return pg.proc.Exited() }

// initPostgres runs initdb with a new superuser password and returns the password.
func initPostgres(cfg PostgresConfig, cred *syscall.Credential, uid, gid int, dir, data string) ([]byte, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	pw := []byte(hex.EncodeToString(b[:]))
	pwfile := filepath.Join(dir, "initdb-password")
	if err := os.WriteFile(pwfile, pw, 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(pwfile)
	if err := os.Chown(pwfile, uid, gid); err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(cfg.BinDir, "initdb"), "-D", data, "-U", "postgres",
		"--auth=scram-sha-256", "--pwfile="+pwfile, "-E", "UTF8", "--locale=C.UTF-8")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	return pw, nil
}

// postgresUser returns the credential of the postgres system user, or nothing when this
// process is not root (then it runs as itself).
func postgresUser() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, os.Getuid(), os.Getgid(), nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("postgres refuses to run as root, and there is no postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// startAs starts bin as the given user, in its own process group, as StartProcess does.
func startAs(cred *syscall.Credential, name string, logf LogFunc, bin string, args []string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"LANG=C.UTF-8", "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	return startCmd(name, logf, cmd)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
