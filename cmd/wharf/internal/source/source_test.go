package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestExcluded(t *testing.T) {
	tests := []struct {
		name     string
		ignore   string
		excluded []string
		kept     []string
	}{
		{"nothing", "", nil, []string{"a", "dir/b"}},
		{"comments and blanks", "# node_modules\n\n   \n", nil, []string{"node_modules", "# node_modules"}},
		{"plain name at the root only", "secret.txt", []string{"secret.txt"}, []string{"dir/secret.txt", "secret.txt.bak"}},
		{"leading slash is the root", "/build", []string{"build", "build/out.o"}, []string{"src/build"}},
		{"directory excludes its contents", "node_modules", []string{"node_modules", "node_modules/x/y.js"}, []string{"src/node_modules/z.js"}},
		{"trailing slash", "tmp/", []string{"tmp", "tmp/a"}, []string{"tmpfile"}},
		{"star stays in one segment", "*.log", []string{"app.log"}, []string{"logs/app.log", "app.logx"}},
		{"star in a directory", "docs/*.md", []string{"docs/a.md"}, []string{"docs/sub/b.md", "a.md"}},
		{"double star any depth", "**/*.pyc", []string{"a.pyc", "x/y/z.pyc"}, []string{"a.py"}},
		{"double star in the middle", "a/**/b", []string{"a/b", "a/x/b", "a/x/y/b", "a/x/b/c"}, []string{"b", "x/a/b"}},
		{"trailing double star", "cache/**", []string{"cache/a", "cache/a/b"}, []string{"cachex"}},
		{"question mark", "file?.txt", []string{"file1.txt"}, []string{"file10.txt", "file/.txt"}},
		{"character class", "[abc].txt", []string{"a.txt", "c.txt"}, []string{"d.txt"}},
		{"negated class", "[!a].txt", []string{"b.txt"}, []string{"a.txt"}},
		{"escape", `\*.txt`, []string{"*.txt"}, []string{"a.txt"}},
		{"exception after exclusion", "*.md\n!README.md", []string{"CHANGES.md"}, []string{"README.md"}},
		{"last match wins", "!README.md\n*.md", []string{"README.md"}, nil},
		{"exception inside an excluded directory", "docs\n!docs/keep.txt", []string{"docs", "docs/drop.txt"}, []string{"docs/keep.txt"}},
		{"everything but", "*\n!src", []string{"README", "Makefile"}, []string{"src", "src/main.go"}},
		{"dot dot is cleaned", "a/../b", []string{"b"}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ig, err := ParseIgnore(strings.NewReader(tt.ignore))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.excluded {
				if !ig.Excluded(p) {
					t.Errorf("%q is kept, want excluded", p)
				}
			}
			for _, p := range tt.kept {
				if ig.Excluded(p) {
					t.Errorf("%q is excluded, want kept", p)
				}
			}
		})
	}
}

func TestParseIgnoreErrors(t *testing.T) {
	for _, bad := range []string{"!", "[abc", `trailing\`} {
		if _, err := ParseIgnore(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseIgnore(%q) = nil error", bad)
		}
	}
}

// write makes files under dir: a name ending in "/" is a directory.
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// unpack returns the tarball's entries: name to content (directories end in "/",
// symbolic links read "-> target").
func unpack(t *testing.T, b []byte) (map[string]string, []string) {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, order
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" {
			t.Errorf("%s is owned by %d/%d %q, want root", h.Name, h.Uid, h.Gid, h.Uname)
		}
		c, _ := io.ReadAll(tr)
		switch h.Typeflag {
		case tar.TypeSymlink:
			out[h.Name] = "-> " + h.Linkname
		default:
			out[h.Name] = string(c)
		}
		order = append(order, h.Name)
	}
}

func TestPack(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		".dockerignore":        "# build context\n.git\nnode_modules\n*.log\nDockerfile\n.dockerignore\nsecrets/\n!secrets/public.pem\n",
		"Dockerfile":           "FROM wharf/busybox:1\n",
		"app/main.sh":          "echo hi\n",
		"app/debug.log":        "noise",
		"debug.log":            "noise",
		".git/HEAD":            "ref: refs/heads/main\n",
		"node_modules/x/i.js":  "x",
		"secrets/key.pem":      "PRIVATE",
		"secrets/public.pem":   "PUBLIC",
		"empty/":               "",
		"README.md":            "# shop\n",
		"app/static/style.css": "body{}",
	})
	if err := os.Symlink("app/main.sh", filepath.Join(dir, "run.sh")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	st, err := Pack(context.Background(), dir, &buf)
	if err != nil {
		t.Fatal(err)
	}
	got, order := unpack(t, buf.Bytes())
	want := map[string]string{
		".dockerignore":        "# build context\n.git\nnode_modules\n*.log\nDockerfile\n.dockerignore\nsecrets/\n!secrets/public.pem\n",
		"Dockerfile":           "FROM wharf/busybox:1\n",
		"README.md":            "# shop\n",
		"app/":                 "",
		"app/debug.log":        "noise", // *.log matches at the root only
		"app/main.sh":          "echo hi\n",
		"app/static/":          "",
		"app/static/style.css": "body{}",
		"empty/":               "",
		"run.sh":               "-> app/main.sh",
		"secrets/public.pem":   "PUBLIC",
	}
	for name, content := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s is missing from the tarball", name)
		} else if g != content {
			t.Errorf("%s = %q, want %q", name, g, content)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is in the tarball, want it left out", name)
		}
	}
	if !slices.IsSorted(order) {
		t.Errorf("entries are not in lexical order: %v", order)
	}
	if st.Files != 7 || st.Excluded == 0 {
		t.Errorf("stats = %+v, want 7 files and some excluded", st)
	}

	// The same tree packs to the same bytes.
	var again bytes.Buffer
	if _, err := Pack(context.Background(), dir, &again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Errorf("packing the same tree twice gave different tarballs")
	}
}

func TestPackWithoutIgnoreFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"a.txt": "a", "sub/b.txt": "bb"})
	var buf bytes.Buffer
	st, err := Pack(context.Background(), dir, &buf)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := unpack(t, buf.Bytes())
	if got["a.txt"] != "a" || got["sub/b.txt"] != "bb" || st.Files != 2 || st.Bytes != 3 || st.Excluded != 0 {
		t.Errorf("got %v, stats %+v", got, st)
	}
}

func TestPackCancelled(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"a.txt": "a"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Pack(ctx, dir, io.Discard); err == nil {
		t.Error("Pack with a cancelled context succeeded")
	}
}
