package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// unpackLimits bounds what one source archive may unpack to.
type unpackLimits struct {
	Entries   int   // entries of any kind
	Bytes     int64 // regular files' contents, in all
	PathBytes int   // one entry's name
	Depth     int   // components of one entry's name
}

// sourceLimits are a build's: far above any codebase, far below a full disk.
var sourceLimits = unpackLimits{Entries: 200_000, Bytes: 4 << 30, PathBytes: 4096, Depth: 128}

// errUnsafe marks a source archive refused for what it holds (as opposed to a failed
// read or write).
var errUnsafe = errors.New("unsafe source archive")

func unsafeEntry(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUnsafe, fmt.Sprintf(format, args...))
}

// unpack unpacks the tar.gz read from r into the directory root. Every path is
// resolved inside root by os.Root, so no entry, whatever links earlier entries made,
// is ever written outside it; beyond that, it refuses (with errUnsafe) absolute names,
// names with "..", devices, fifos and other special files, hard links to anything but a
// regular file of the archive, more entries or bytes than lim allows, and, once every
// entry is in place, any symbolic link that resolves outside root (so nothing that later
// reads the tree as root, like the Docker CLI reading the Dockerfile, is led out).
func unpack(r io.Reader, root *os.Root, lim unpackLimits) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a tar.gz: %w", err)
	}
	tr := tar.NewReader(zr)
	var entries int
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read the archive: %w", err)
		}
		if entries++; entries > lim.Entries {
			return unsafeEntry("more than %d entries", lim.Entries)
		}
		name, err := entryName(h.Name, lim)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return entryError(h.Name, err)
			}
		case tar.TypeReg, tar.TypeRegA:
			if h.Size < 0 || h.Size > lim.Bytes-total {
				return unsafeEntry("more than %d bytes unpacked", lim.Bytes)
			}
			total += h.Size
			if err := makeParent(root, name); err != nil {
				return entryError(h.Name, err)
			}
			if err := replace(root, name); err != nil {
				return entryError(h.Name, err)
			}
			f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(h.Mode)&0o755)
			if err != nil {
				return entryError(h.Name, err)
			}
			n, err := io.Copy(f, io.LimitReader(tr, h.Size))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil && n != h.Size {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				return entryError(h.Name, err)
			}
		case tar.TypeSymlink:
			if h.Linkname == "" || strings.HasPrefix(h.Linkname, "/") || strings.ContainsRune(h.Linkname, 0) || len(h.Linkname) > lim.PathBytes {
				return unsafeEntry("link %q points outside the source (%q)", h.Name, h.Linkname)
			}
			if err := makeParent(root, name); err != nil {
				return entryError(h.Name, err)
			}
			if err := replace(root, name); err != nil {
				return entryError(h.Name, err)
			}
			if err := root.Symlink(h.Linkname, name); err != nil {
				return entryError(h.Name, err)
			}
		case tar.TypeLink:
			old, err := entryName(h.Linkname, lim)
			if err != nil || old == "." {
				return unsafeEntry("hard link %q points outside the source (%q)", h.Name, h.Linkname)
			}
			fi, err := root.Lstat(old)
			if err != nil || !fi.Mode().IsRegular() {
				return unsafeEntry("hard link %q names %q, which is not a file of the source", h.Name, h.Linkname)
			}
			if err := makeParent(root, name); err != nil {
				return entryError(h.Name, err)
			}
			if err := replace(root, name); err != nil {
				return entryError(h.Name, err)
			}
			if err := root.Link(old, name); err != nil {
				return entryError(h.Name, err)
			}
		case tar.TypeXGlobalHeader:
		default:
			return unsafeEntry("%q is a %s, not a file, directory or link", h.Name, typeName(h.Typeflag))
		}
	}
	return checkLinks(root)
}

// entryName cleans an archive entry's name, refusing those that could name anything
// outside the root: absolute, with a ".." component, with NUL, too long or too deep.
func entryName(name string, lim unpackLimits) (string, error) {
	if name == "" || len(name) > lim.PathBytes || strings.ContainsRune(name, 0) {
		return "", unsafeEntry("entry name %q is empty or too long", name)
	}
	if strings.HasPrefix(name, "/") {
		return "", unsafeEntry("%q is an absolute name", name)
	}
	parts := strings.Split(name, "/")
	if len(parts) > lim.Depth {
		return "", unsafeEntry("%q is deeper than %d levels", name, lim.Depth)
	}
	for _, p := range parts {
		if p == ".." {
			return "", unsafeEntry("%q leaves the source directory", name)
		}
	}
	return path.Clean(name), nil
}

func entryError(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") || errors.Is(err, syscall.ELOOP) {
		return unsafeEntry("%q would be written outside the source", name)
	}
	return fmt.Errorf("unpack %q: %w", name, err)
}

func typeName(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("entry of type %q", t)
}

// makeParent makes the directories above name.
func makeParent(root *os.Root, name string) error {
	if dir := path.Dir(name); dir != "." {
		return root.MkdirAll(dir, 0o755)
	}
	return nil
}

// replace removes what name is, if anything but a directory, so a later entry of the
// same name replaces an earlier one (as tar does) without writing through a link.
func replace(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("a directory of that name is already there")
	}
	return root.Remove(name)
}

// maxLinkHops bounds the links followed resolving one path, as the kernel's 40.
const maxLinkHops = 40

// checkLinks walks the unpacked tree and refuses it when a symbolic link, resolved as
// the kernel would from where it really is, leads outside the root. It runs once every
// entry is in place, since a later entry can change where an earlier link leads.
func checkLinks(root *os.Root) error {
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		if !linkStaysInside(root, p) {
			target, _ := root.Readlink(p)
			return unsafeEntry("link %q points outside the source (%q)", p, target)
		}
		return nil
	})
}

// linkStaysInside resolves the link at p (a real path, no component of it a link)
// component by component and reports whether it stays inside root. A loop, too many
// hops or an absolute target count as leaving.
func linkStaysInside(root *os.Root, p string) bool {
	cur := strings.Split(path.Dir(p), "/")
	if cur[0] == "." {
		cur = nil
	}
	target, err := root.Readlink(p)
	if err != nil || strings.HasPrefix(target, "/") {
		return false
	}
	todo := strings.Split(target, "/")
	hops := 1
	exists := true
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return false
			}
			cur = cur[:len(cur)-1]
			continue
		}
		next := append(cur[:len(cur):len(cur)], c)
		if !exists {
			cur = next
			continue
		}
		fi, err := root.Lstat(strings.Join(next, "/"))
		switch {
		case err != nil:
			exists = false // dangling from here: what follows is lexical
			cur = next
		case fi.Mode()&fs.ModeSymlink != 0:
			if hops++; hops > maxLinkHops {
				return false
			}
			t, err := root.Readlink(strings.Join(next, "/"))
			if err != nil || strings.HasPrefix(t, "/") {
				return false
			}
			todo = append(strings.Split(t, "/"), todo...)
		default:
			cur = next
		}
	}
	return true
}

// nobody is the unprivileged user that unpacks sources when the builder runs as root.
const nobody = 65534

// unpackSource unpacks the tar.gz tgz into dir, which it makes. Run as root (as Nomad's
// raw_exec runs the builder), it unpacks in a child process of its own binary under the
// user nobody, with no groups, into a directory nobody owns: even a flaw in the
// unpacking could then write only where nobody may. The child reaches the directory
// through an inherited descriptor, so it needs no right on the directories above it.
func unpackSource(tgz []byte, dir string) error {
	err := unpackAsNobody(tgz, dir)
	if err != nil {
		os.RemoveAll(dir) // nothing of a refused source is used or kept
	}
	return err
}

func unpackAsNobody(tgz []byte, dir string) error {
	if os.Getuid() != 0 {
		return unpackInto(bytes.NewReader(tgz), dir)
	}
	if err := makeNobodysDir(dir); err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd, done, err := asNobody(context.Background(), dir, nil, unpackCommand)
	if err != nil {
		return err
	}
	defer done()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(tgz), io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return errors.New(msg)
		}
		return err
	}
	return nil
}

// makeNobodysDir makes dir (and what is above it), owned by nobody.
func makeNobodysDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	return os.Chown(dir, nobody, nobody)
}

// asNobody prepares a command that runs args (the builder's own unpackCommand, or a
// program found in env's PATH) under nobody, with no groups, in dir, with the
// environment env. The child is this binary, reached through its descriptor 4 (nobody
// may have no right to search the directories the binary is in); it enters dir through
// descriptor 3, for the same reason, and then becomes args. done closes what the
// parent opened.
func asNobody(ctx context.Context, dir string, env []string, args ...string) (*exec.Cmd, func(), error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	path, err := os.Executable()
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	self, err := os.Open(path)
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, "/proc/self/fd/4", append([]string{nobodyCommand}, args...)...)
	cmd.ExtraFiles = []*os.File{d, self} // descriptors 3 and 4
	cmd.Env = env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
	}
	return cmd, func() { d.Close(); self.Close() }, nil
}

// nobodyCommand is the builder's hidden subcommand that asNobody runs: it enters the
// directory open as descriptor 3 and unpacks standard input there (unpackCommand), or
// executes its arguments.
const nobodyCommand = "__nobody"

// unpackCommand unpacks standard input into the current directory.
const unpackCommand = "__unpack"

// runNobodyChild is the child's side of asNobody.
func runNobodyChild(args []string) int {
	if err := syscall.Fchdir(3); err != nil {
		fmt.Fprintln(os.Stderr, "enter the directory:", err)
		return 1
	}
	syscall.CloseOnExec(3)
	syscall.CloseOnExec(4)
	if len(args) == 0 {
		return 2
	}
	if args[0] == unpackCommand {
		if err := unpackInto(os.Stdin, "."); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	prog, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 127
	}
	err = syscall.Exec(prog, args, os.Environ())
	fmt.Fprintln(os.Stderr, "exec", args[0]+":", err)
	return 126
}

func unpackInto(r io.Reader, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return unpack(r, root, sourceLimits)
}
