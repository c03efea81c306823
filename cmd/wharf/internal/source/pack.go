package source

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Stats counts what Pack put in the tarball.
type Stats struct {
	Files    int   // regular files
	Bytes    int64 // their content, before compression
	Excluded int   // paths .dockerignore left out (a directory counts once)
}

// Pack writes dir as a gzipped tarball to w: regular files, directories and symbolic
// links, with paths relative to dir, in lexical order, owned by root and without
// timestamps, so the same tree packs to the same bytes. What dir/.dockerignore excludes
// is left out, except the Dockerfile and the .dockerignore file themselves, which a
// build always needs (as Docker sends them too). Other kinds of file (sockets, devices)
// are skipped.
func Pack(ctx context.Context, dir string, w io.Writer) (Stats, error) {
	var st Stats
	ig, err := readIgnore(dir)
	if err != nil {
		return st, err
	}
	gz, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		name := filepath.ToSlash(rel)
		if ig.Excluded(name) && name != "Dockerfile" && name != ".dockerignore" {
			st.Excluded++
			if d.IsDir() && !ig.mayReinclude() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return addEntry(tw, p, name, info, &st)
	})
	if err != nil {
		return st, err
	}
	if err := tw.Close(); err != nil {
		return st, err
	}
	return st, gz.Close()
}

// readIgnore reads dir/.dockerignore; a missing file excludes nothing.
func readIgnore(dir string) (*Ignore, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseIgnore(f)
}

func addEntry(tw *tar.Writer, p, name string, info fs.FileInfo, st *Stats) error {
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(info.Mode().Perm()),
		ModTime: time.Unix(0, 0),
		Format:  tar.FormatPAX,
	}
	switch {
	case info.Mode().IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
	case info.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	default:
		return nil
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(tw, f)
	if err != nil {
		return err
	}
	if n != hdr.Size {
		return fmt.Errorf("%s changed while it was packed", name)
	}
	st.Files++
	st.Bytes += n
	return nil
}
