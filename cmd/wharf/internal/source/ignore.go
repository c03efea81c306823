// Package source packs an application's source directory into the gzipped tarball that
// wharfd builds from, leaving out what its .dockerignore excludes, as `docker build`
// would. It reads only the local filesystem and imports nothing of Wharf.
package source

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// Ignore holds the patterns of a .dockerignore file, in order. A path is excluded when
// the last pattern matching it (or one of its parent directories) is not an exception
// ("!pattern"), which is how Docker's own matcher decides.
type Ignore struct {
	patterns      []pattern
	hasExceptions bool
}

type pattern struct {
	text      string
	exception bool
	re        *regexp.Regexp
	depth     int // number of path segments in text
}

// ParseIgnore reads .dockerignore syntax: one pattern a line, '#' comments, blank lines
// skipped, a leading '!' for an exception; '*' and '?' match within one path segment,
// '**' any number of segments, '[...]' a character class and '\' escapes.
func ParseIgnore(r io.Reader) (*Ignore, error) {
	ig := &Ignore{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := pattern{}
		if strings.HasPrefix(line, "!") {
			p.exception = true
			line = strings.TrimSpace(line[1:])
			if line == "" {
				return nil, fmt.Errorf(".dockerignore line %d: an exception names no pattern", n)
			}
		}
		line = path.Clean(line)
		if len(line) > 1 && line[0] == '/' {
			line = line[1:]
		}
		re, err := compile(line)
		if err != nil {
			return nil, fmt.Errorf(".dockerignore line %d: %q: %v", n, line, err)
		}
		p.text, p.re, p.depth = line, re, len(strings.Split(line, "/"))
		ig.hasExceptions = ig.hasExceptions || p.exception
		ig.patterns = append(ig.patterns, p)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return ig, nil
}

// compile turns a pattern into an anchored regular expression.
func compile(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		ch := p[i]
		switch {
		case ch == '*' && i+1 < len(p) && p[i+1] == '*':
			i++
			if i+1 < len(p) && p[i+1] == '/' {
				i++
			}
			if i+1 >= len(p) {
				b.WriteString(".*")
			} else {
				b.WriteString("(.*/)?")
			}
		case ch == '*':
			b.WriteString("[^/]*")
		case ch == '?':
			b.WriteString("[^/]")
		case ch == '\\':
			if i+1 >= len(p) {
				return nil, fmt.Errorf("ends with a lone backslash")
			}
			i++
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		case ch == '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed character class")
			}
			class := p[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Excluded reports whether the slash-separated path, relative to the source directory,
// is left out of the tarball.
func (ig *Ignore) Excluded(name string) bool {
	if ig == nil {
		return false
	}
	name = path.Clean(name)
	var parents []string
	if dir := path.Dir(name); dir != "." {
		parents = strings.Split(dir, "/")
	}
	excluded := false
	for _, p := range ig.patterns {
		match := p.re.MatchString(name)
		if !match && len(parents) > 0 && p.depth <= len(parents) {
			// A pattern naming a directory excludes everything beneath it.
			match = p.re.MatchString(strings.Join(parents[:p.depth], "/"))
		}
		if match {
			excluded = !p.exception
		}
	}
	return excluded
}

// mayReinclude reports whether an exception could bring back something beneath an
// excluded directory, so the walk must go into it.
func (ig *Ignore) mayReinclude() bool { return ig != nil && ig.hasExceptions }
