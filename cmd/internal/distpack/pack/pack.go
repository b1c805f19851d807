// Package pack writes reproducible release archives: see cmd/internal/distpack.
package pack

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// All packs every folder directly under stage into out/<folder>.zip (names
// containing "_windows_") or out/<folder>.tar.gz, then writes
// out/SHA256SUMS. It returns the SHA256SUMS lines.
func All(stage, out string, mtime int64) ([]string, error) {
	entries, err := os.ReadDir(stage)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	when := time.Unix(mtime, 0).UTC()
	var sums []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		files, err := collect(filepath.Join(stage, e.Name()))
		if err != nil {
			return nil, err
		}
		var data []byte
		name := e.Name()
		if strings.Contains(name, "_windows_") {
			name += ".zip"
			data, err = Zip(e.Name(), files, when)
		} else {
			name += ".tar.gz"
			data, err = TarGz(e.Name(), files, when)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		sums = append(sums, hex.EncodeToString(sum[:])+"  "+name)
	}
	// One line per archive, in name order (the order entries came in).
	if err := os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(strings.Join(sums, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return sums, nil
}

// File is one archive entry.
type File struct {
	Name string // slash-separated, relative to the archive's top folder
	Mode fs.FileMode
	Data []byte
}

func collect(dir string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		mode := fs.FileMode(0o644)
		if info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		files = append(files, File{Name: filepath.ToSlash(rel), Mode: mode, Data: data})
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, err
}

// TarGz writes files under top/ into a gzip'd tar with fixed times and no owner.
func TarGz(top string, files []File, when time.Time) ([]byte, error) {
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	gz.ModTime = when // gzip header time, not the clock
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{
			Name: path.Join(top, f.Name), Mode: int64(f.Mode), Size: int64(len(f.Data)),
			ModTime: when, Typeflag: tar.TypeReg, Format: tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Zip writes files under top/ into a zip with fixed times.
func Zip(top string, files []File, when time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		hdr := &zip.FileHeader{Name: path.Join(top, f.Name), Method: zip.Deflate, Modified: when}
		hdr.SetMode(f.Mode)
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
