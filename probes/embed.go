package probes

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// sources holds the probe programs, so the awacompat binary runs them from anywhere.
//
//go:embed python/awaprobe.py rust/Cargo.toml rust/Cargo.lock rust/build.rs rust/src
var sources embed.FS

// Extract writes the embedded probe sources under root/probes-<hash>/ (once per content) and
// returns that directory, which holds python/ and rust/ as in the repository.
func Extract(root string) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(sources, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := sources.ReadFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("extract probes: %w", err)
	}
	dir := filepath.Join(root, "probes-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "ok")); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(root, "probes-tmp-")
	if err != nil {
		return "", fmt.Errorf("extract probes: %w", err)
	}
	defer os.RemoveAll(tmp)
	err = fs.WalkDir(sources, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, path)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := sources.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return "", fmt.Errorf("extract probes: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "ok"), nil, 0o644); err != nil {
		return "", fmt.Errorf("extract probes: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
		if _, serr := os.Stat(filepath.Join(dir, "ok")); serr != nil {
			return "", fmt.Errorf("extract probes: %w", err)
		}
	}
	return dir, nil
}
