package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	// unpackSource runs this binary again as the unpacking child.
	if len(os.Args) >= 2 && os.Args[1] == nobodyCommand {
		os.Exit(runNobodyChild(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// entry is one tar entry: a file (Body), a directory (Type dir), a symbolic or hard
// link (Link), or any other type.
type entry struct {
	Name string
	Type byte
	Link string
	Body string
	Size int64 // when not len(Body): a header that claims more
}

func file(name, body string) entry  { return entry{Name: name, Type: tar.TypeReg, Body: body} }
func symlink(name, to string) entry { return entry{Name: name, Type: tar.TypeSymlink, Link: to} }

func archive(t testing.TB, entries ...entry) []byte {
	t.Helper()
	b, err := archiveOf(entries, false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// archiveOf writes entries as a tar.gz; lenient leaves out those tar cannot encode.
func archiveOf(entries []entry, lenient bool) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Linkname: e.Link, Mode: 0o644, Size: int64(len(e.Body)), Format: tar.FormatPAX}
		if e.Type == tar.TypeDir {
			h.Mode = 0o755
		}
		if e.Type != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			if lenient {
				continue
			}
			return nil, err
		}
		if _, err := tw.Write([]byte(e.Body)); err != nil {
			return nil, err
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes(), nil
}

// sandbox is a directory holding the unpacking root and, around it, files whose
// state is recorded so that any change outside the root shows.
type sandbox struct {
	dir, root string
	before    map[string]string
}

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	dir := t.TempDir()
	s := &sandbox{dir: dir, root: filepath.Join(dir, "root")}
	for name, body := range map[string]string{"outside/secret": "secret\n", "outside/etc/passwd": "root:x:0:0\n", "sibling": "s\n"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(s.root, 0o755); err != nil {
		t.Fatal(err)
	}
	s.before = s.snapshot(t)
	return s
}

// snapshot describes everything in the sandbox but the root: names, types, modes,
// link counts, contents, link targets.
func (s *sandbox) snapshot(t testing.TB) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			m[p] = "error " + err.Error()
			return nil
		}
		if p == s.root {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			m[p] = "error " + err.Error()
			return nil
		}
		desc := fi.Mode().String()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			desc += " nlink " + strconv.FormatUint(uint64(st.Nlink), 10)
		}
		switch {
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += " " + string(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		}
		m[p] = desc
		return nil
	})
	return m
}

// check fails the test when anything outside the root changed, or, after an unpacking
// that succeeded (unpacked is nil), when a link left in the root leads outside it (a
// refused source is never used, and the builder removes it).
func (s *sandbox) check(t testing.TB, unpacked error) {
	t.Helper()
	after := s.snapshot(t)
	for p, d := range after {
		if s.before[p] != d {
			t.Fatalf("outside the root, %s is now %q (was %q)", p, d, s.before[p])
		}
	}
	for p := range s.before {
		if _, ok := after[p]; !ok {
			t.Fatalf("outside the root, %s is gone", p)
		}
	}
	if unpacked != nil {
		return
	}
	realRoot, _ := filepath.EvalSymlinks(s.root)
	filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		if r, err := filepath.EvalSymlinks(p); err == nil && r != realRoot && !strings.HasPrefix(r, realRoot+"/") {
			t.Fatalf("link %s in the root leads to %s, outside", p, r)
		}
		return nil
	})
}

func unpackTo(t testing.TB, tgz []byte, dir string, lim unpackLimits) error {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	return unpack(bytes.NewReader(tgz), root, lim)
}

// escapeChain is the attack: `a/up -> ..`, `a/up/e0 -> ..`, then `e0/u -> ..`,
// `e0/u/u -> ..`, … one level per link, then a regular file written through them all,
// aimed at target (an absolute path) from the root at dir.
func escapeChain(dir, target string) []entry {
	levels := strings.Count(filepath.Clean(dir), "/")
	es := []entry{symlink("a/up", ".."), symlink("a/up/e0", "..")}
	p := "e0"
	for range levels {
		p += "/u"
		es = append(es, symlink(p, ".."))
	}
	return append(es, file(p+target, "* * * * * root touch /pwned\n"))
}

func TestUnpackRefusesTheEscapeChain(t *testing.T) {
	s := newSandbox(t)
	target := filepath.Join(s.dir, "outside", "cron.d", "x")
	err := unpackTo(t, archive(t, escapeChain(s.root, target)...), s.root, sourceLimits)
	if !errors.Is(err, errUnsafe) {
		t.Fatalf("unpack of the escape chain = %v, want an unsafe archive refused", err)
	}
	if _, serr := os.Lstat(target); serr == nil {
		t.Fatalf("the escape chain wrote %s", target)
	}
	s.check(t, err)
	t.Logf("refused: %v", err)
}

func TestUnpack(t *testing.T) {
	small := unpackLimits{Entries: 10, Bytes: 100, PathBytes: 64, Depth: 5}
	for _, tc := range []struct {
		name    string
		entries []entry
		lim     unpackLimits
		refused string // a part of the error; "" for success
		check   func(t *testing.T, root string)
	}{
		{name: "a codebase", entries: []entry{
			{Name: "./", Type: tar.TypeDir}, file("./Dockerfile", "FROM x\n"), {Name: "www", Type: tar.TypeDir},
			file("www/index.html", "hi"), symlink("www/home.html", "index.html"), symlink("node_modules/.bin/x", "../x/bin/x"),
			file("node_modules/x/bin/x", "#!/bin/sh"), {Name: "www/copy.html", Type: tar.TypeLink, Link: "www/index.html"},
			symlink("lib", "www"), file("lib/via-link.txt", "written through an inside link"),
		}, check: func(t *testing.T, root string) {
			for name, want := range map[string]string{"Dockerfile": "FROM x\n", "www/home.html": "hi", "www/copy.html": "hi", "www/via-link.txt": "written through an inside link", "node_modules/.bin/x": "#!/bin/sh"} {
				if b, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(b) != want {
					t.Errorf("%s = %q, %v; want %q", name, b, err, want)
				}
			}
		}},
		{name: "a later entry replaces a link, not its target", entries: []entry{
			file("target", "kept"), symlink("name", "target"), file("name", "new"),
		}, check: func(t *testing.T, root string) {
			if b, _ := os.ReadFile(filepath.Join(root, "target")); string(b) != "kept" {
				t.Errorf("target = %q: written through the link", b)
			}
		}},
		{name: "absolute name", entries: []entry{file("/etc/x", "")}, refused: "absolute"},
		{name: "dot-dot name", entries: []entry{file("a/../../x", "")}, refused: "leaves the source"},
		{name: "dot-dot alone", entries: []entry{{Name: "..", Type: tar.TypeDir}}, refused: "leaves the source"},
		{name: "absolute link", entries: []entry{symlink("Dockerfile", "/etc/shadow")}, refused: "points outside"},
		{name: "link up", entries: []entry{symlink("up", "..")}, refused: "points outside"},
		{name: "link up from deeper", entries: []entry{symlink("a/b/up", "../../../x")}, refused: "points outside"},
		{name: "link through a link to the root", entries: []entry{symlink("s", "."), symlink("s/q", "../x")}, refused: "points outside"},
		{name: "link whose meaning a later link changes", entries: []entry{symlink("q", "t/.."), symlink("t", ".")}, refused: "points outside"},
		{name: "link loop", entries: []entry{symlink("a", "b"), symlink("b", "a")}, refused: "points outside"},
		{name: "write through a link made earlier", entries: []entry{symlink("a/up", ".."), symlink("a/up/e0", ".."), file("e0/x", "")}, refused: "outside"},
		{name: "hard link out", entries: []entry{{Name: "h", Type: tar.TypeLink, Link: "../outside/secret"}}, refused: "hard link"},
		{name: "hard link absolute", entries: []entry{{Name: "h", Type: tar.TypeLink, Link: "/etc/passwd"}}, refused: "hard link"},
		{name: "hard link through a link", entries: []entry{symlink("o", "../outside"), {Name: "h", Type: tar.TypeLink, Link: "o/secret"}}, refused: "hard link"},
		{name: "hard link to a directory", entries: []entry{{Name: "d", Type: tar.TypeDir}, {Name: "h", Type: tar.TypeLink, Link: "d"}}, refused: "not a file"},
		{name: "character device", entries: []entry{{Name: "null", Type: tar.TypeChar}}, refused: "character device"},
		{name: "block device", entries: []entry{{Name: "sda", Type: tar.TypeBlock}}, refused: "block device"},
		{name: "fifo", entries: []entry{{Name: "p", Type: tar.TypeFifo}}, refused: "fifo"},
		{name: "too many entries", lim: small, entries: func() []entry {
			var es []entry
			for i := range 11 {
				es = append(es, file("f"+string(rune('a'+i)), ""))
			}
			return es
		}(), refused: "entries"},
		{name: "too many bytes", lim: small, entries: []entry{file("a", strings.Repeat("x", 60)), file("b", strings.Repeat("x", 60))}, refused: "bytes"},
		{name: "too deep", lim: small, entries: []entry{file("a/b/c/d/e/f", "")}, refused: "deeper"},
		{name: "too long", lim: small, entries: []entry{file(strings.Repeat("x", 65), "")}, refused: "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			lim := tc.lim
			if lim == (unpackLimits{}) {
				lim = sourceLimits
			}
			err := unpackTo(t, archive(t, tc.entries...), s.root, lim)
			s.check(t, err)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("unpack = %v", err)
				}
				if tc.check != nil {
					tc.check(t, s.root)
				}
				return
			}
			if !errors.Is(err, errUnsafe) || !strings.Contains(err.Error(), tc.refused) {
				t.Fatalf("unpack = %v, want an unsafe archive refused for %q", err, tc.refused)
			}
		})
	}
}

// TestUnpackSourceAsNobody unpacks through the child process under the user nobody, as
// the builder does when it runs as root: the files are nobody's, and a refusal reaches
// the caller with its reason.
func TestUnpackSourceAsNobody(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to drop to nobody")
	}
	s := newSandbox(t)
	os.Chmod(s.dir, 0o700) // nobody cannot even search the directories above
	s.before = s.snapshot(t)
	dir := filepath.Join(s.root, "work", "src") // work is made too, as the build's is
	if err := unpackSource(archive(t, file("Dockerfile", "FROM x\n"), file("www/index.html", "hi")), dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "Dockerfile", "www", "www/index.html"} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
			t.Errorf("%s belongs to %d:%d, not nobody", name, st.Uid, st.Gid)
		}
	}
	target := filepath.Join(s.dir, "outside", "x")
	err := unpackSource(archive(t, escapeChain(filepath.Join(s.root, "src2"), target)...), filepath.Join(s.root, "src2"))
	if err == nil || !strings.Contains(err.Error(), "outside the source") {
		t.Fatalf("unpack of the escape chain as nobody = %v", err)
	}
	if _, err := os.Lstat(target); err == nil {
		t.Fatalf("the escape chain wrote %s", target)
	}
	if _, err := os.Lstat(filepath.Join(s.root, "src2")); err == nil {
		t.Errorf("the refused source was left in place")
	}
	s.check(t, err)
}

// FuzzUnpack unpacks hostile archives (links, hard links, "..", absolute names,
// devices, many and big entries) and checks that nothing outside the root is ever
// written, removed or linked to, and that no link left in the root leads out of it. An
// input that starts as gzip does is unpacked as it is; any other is read as a program
// of entries (see fuzzEntries), so the fuzzer explores archives rather than gzip
// checksums.
func FuzzUnpack(f *testing.F) {
	f.Add(archive(f, escapeChain("/tmp/x/y/root", "/tmp/x/y/outside/secret")...))
	f.Add(archive(f, symlink("s", "."), symlink("s/q", "../outside/secret"), file("q", "overwritten?")))
	f.Add(archive(f, symlink("q", "t/.."), symlink("t", "."), file("q/outside/secret", "x")))
	f.Add(archive(f, symlink("o", "../outside"), entry{Name: "h", Type: tar.TypeLink, Link: "o/secret"}, file("o/secret", "x")))
	f.Add(archive(f, entry{Name: "d", Type: tar.TypeDir}, symlink("d/x", "../../sibling"), file("d/x", "x"), entry{Name: "n", Type: tar.TypeChar}))
	f.Add(archive(f, file("/abs", "x"), file("../up", "x"), file("a/../../b", "x")))
	f.Add(archive(f, file("Dockerfile", "FROM x\n"), symlink("a", "b"), symlink("b", "a"), file("a/x", "")))
	f.Add([]byte{1, 0x12, 0x33, 1, 0x12, 0x43, 0, 0x12, 0x13, 0x24})
	f.Add([]byte{1, 0x02, 0x40, 1, 0x12, 0x40, 1, 0x13, 0x40, 0, 0x13, 0x35, 0x6f})
	lim := unpackLimits{Entries: 64, Bytes: 1 << 16, PathBytes: 256, Depth: 16}
	f.Fuzz(func(t *testing.T, in []byte) {
		tgz := in
		if len(in) < 2 || in[0] != 0x1f || in[1] != 0x8b {
			var err error
			if tgz, err = archiveOf(fuzzEntries(in), true); err != nil {
				t.Fatal(err)
			}
		}
		s := newSandbox(t)
		s.check(t, unpackTo(t, tgz, s.root, lim))
	})
}

// fuzzParts are the name components fuzzEntries builds names from: the ones that
// matter to an escape, and the names of what lies around the root.
var fuzzParts = []string{"a", "b", "u", "e0", "..", ".", "", "outside", "secret", "sibling", "root", "etc", "/", "Dockerfile", "s", "t"}

// fuzzEntries reads a program of entries: a type byte (file, directory, symbolic link,
// hard link, fifo, device), a byte whose two halves give the name's and the link's
// number of components, then one byte per component (an index into fuzzParts).
func fuzzEntries(prog []byte) []entry {
	types := []byte{tar.TypeReg, tar.TypeSymlink, tar.TypeDir, tar.TypeLink, tar.TypeFifo, tar.TypeChar}
	next := func() byte {
		if len(prog) == 0 {
			return 0
		}
		b := prog[0]
		prog = prog[1:]
		return b
	}
	path := func(n byte) string {
		var parts []string
		for range n {
			parts = append(parts, fuzzParts[int(next())%len(fuzzParts)])
		}
		return strings.Join(parts, "/")
	}
	var es []entry
	for len(prog) > 0 && len(es) < 32 {
		typ := types[int(next())%len(types)]
		lens := next()
		e := entry{Type: typ, Name: path(lens>>4%8 + 1)}
		if typ == tar.TypeSymlink || typ == tar.TypeLink {
			e.Link = path(lens & 7)
		}
		if typ == tar.TypeReg {
			e.Body = "x"
		}
		es = append(es, e)
	}
	return es
}
