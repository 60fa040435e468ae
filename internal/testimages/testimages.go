// Package testimages builds the container images awacompat's tests run, locally (no registry
// is needed): FROM scratch, with a root filesystem assembled from what this machine already
// has. Each image is tagged by a hash of its content (awacompat-test/NAME:HASH), so a second
// build of the same content finds it and builds nothing.
//
//   - Postgres: a portable PostgreSQL build (pgbin) under /pg, the host libraries its binaries
//     load, and pginit as PID 1, which starts it the way the official postgres images are
//     started (POSTGRES_PASSWORD, port 5432).
//   - Python: the interpreter an awa-pg virtualenv of the artifact cache was made with (its
//     base prefix, without tests and its own site-packages), the virtualenv itself at its
//     image path with its bin first on PATH (python3 there is awa-pg's interpreter: the same
//     wheels the python artifact installed), and the host libraries they load.
//   - CLI: the awa binary of a cli artifact at /usr/local/bin/awa and its libraries.
package testimages

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/awacompat/awacompat/internal/container"
)

// file is one entry of an image's root filesystem.
type file struct {
	path string // in the image, absolute
	src  string // host file to copy (regular files)
	data []byte // or these bytes
	link string // or a symlink to this
	dir  bool   // or a folder
	mode int64
}

// rootfs collects an image's files; later additions of a path are ignored.
type rootfs struct {
	files map[string]file
}

func newRootfs() *rootfs {
	r := &rootfs{files: map[string]file{}}
	r.dir("/tmp", 0o1777)
	return r
}

func (r *rootfs) add(f file) {
	if _, ok := r.files[f.path]; !ok {
		r.files[f.path] = f
	}
}

func (r *rootfs) dir(p string, mode int64) { r.add(file{path: p, dir: true, mode: mode}) }

func (r *rootfs) bytes(p string, b []byte, mode int64) { r.add(file{path: p, data: b, mode: mode}) }

// copy adds the host path at the same image path (or at dst): files, symlinks and whole
// trees; skip, when set, leaves out entries by their host path.
func (r *rootfs) copy(src, dst string, skip func(string) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skip != nil && skip(p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			r.add(file{path: target, link: l})
		case info.IsDir():
			r.dir(target, 0o755)
		case info.Mode().IsRegular():
			r.add(file{path: target, src: p, mode: int64(info.Mode().Perm() | 0o444)})
		}
		return nil
	})
}

var lddRE = regexp.MustCompile(`(?m)(?:=>\s*)?(/\S+)\s+\(0x`)

// libs adds the shared libraries the ELF files load (as ldd resolves them on this host),
// outside the folders in keep (which the image holds already), at their host paths, plus the
// dynamic loader.
func (r *rootfs) libs(ctx context.Context, elfs []string, keep ...string) error {
	seen := map[string]bool{}
	for _, e := range elfs {
		out, err := exec.CommandContext(ctx, "ldd", e).Output()
		if err != nil {
			continue // not a dynamic executable
		}
		for _, m := range lddRE.FindAllStringSubmatch(string(out), -1) {
			lib := m[1]
			if seen[lib] || slices.ContainsFunc(keep, func(k string) bool { return strings.HasPrefix(lib, k) }) {
				continue
			}
			seen[lib] = true
			real, err := filepath.EvalSymlinks(lib)
			if err != nil {
				return err
			}
			r.add(file{path: lib, src: real, mode: 0o755})
		}
	}
	return nil
}

// build builds the image from the root filesystem and the Dockerfile lines after FROM scratch
// and COPY, tagged awacompat-test/NAME:HASH; an image with that tag is reused.
func (r *rootfs) build(ctx context.Context, e *container.Engine, name string, dockerfile ...string) (string, error) {
	paths := make([]string, 0, len(r.files))
	for p := range r.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	df := "FROM scratch\nCOPY rootfs/ /\n" + strings.Join(dockerfile, "\n") + "\n"
	h := sha256.New()
	io.WriteString(h, df)
	for _, p := range paths {
		f := r.files[p]
		fmt.Fprintf(h, "%s %o %s %v\x00", p, f.mode, f.link, f.dir)
		if f.src != "" {
			b, err := os.ReadFile(f.src)
			if err != nil {
				return "", err
			}
			h.Write(b)
		}
		h.Write(f.data)
	}
	tag := "awacompat-test/" + name + ":" + hex.EncodeToString(h.Sum(nil))[:12]
	if e.HasImage(ctx, tag) {
		return tag, nil
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(r.writeTar(pw, paths, df)) }()
	if err := e.BuildImage(ctx, tag, pr); err != nil {
		pr.Close()
		return "", err
	}
	return tag, nil
}

func (r *rootfs) writeTar(w io.Writer, paths []string, dockerfile string) error {
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return err
	}
	// Parents first: every folder on the way to a file is an entry of its own.
	dirs := map[string]bool{}
	for _, p := range paths {
		for d := filepath.Dir(p); d != "/" && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var all []string
	for d := range dirs {
		if _, ok := r.files[d]; !ok {
			r.files[d] = file{path: d, dir: true, mode: 0o755}
		}
		all = append(all, d)
	}
	for _, p := range paths {
		if !dirs[p] {
			all = append(all, p)
		}
	}
	sort.Strings(all)
	for _, p := range all {
		f := r.files[p]
		name := "rootfs" + p
		switch {
		case f.dir:
			if err := tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: f.mode}); err != nil {
				return err
			}
		case f.link != "":
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: f.link, Mode: 0o777}); err != nil {
				return err
			}
		default:
			data := f.data
			if f.src != "" {
				b, err := os.ReadFile(f.src)
				if err != nil {
					return err
				}
				data = b
			}
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: f.mode, Size: int64(len(data))}); err != nil {
				return err
			}
			if _, err := tw.Write(data); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// Postgres builds the PostgreSQL image from a portable build's bin folder (pgbin.Find); it
// needs the go tool to build pginit.
func Postgres(ctx context.Context, e *container.Engine, binDir string) (string, error) {
	root := filepath.Dir(binDir)
	r := newRootfs()
	if err := r.copy(root, "/pg", func(p string) bool { return strings.HasSuffix(p, ".a") || strings.HasSuffix(p, ".json") }); err != nil {
		return "", err
	}
	// initdb runs `postgres -V` and its bootstrap through popen, that is /bin/sh.
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		return "", err
	}
	r.add(file{path: "/bin/sh", src: sh, mode: 0o755})
	if err := r.libs(ctx, []string{filepath.Join(binDir, "postgres"), filepath.Join(binDir, "initdb"), sh}, root); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "pginit-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	initBin := filepath.Join(tmp, "pginit")
	build := exec.CommandContext(ctx, "go", "build", "-o", initBin, "github.com/awacompat/awacompat/internal/testimages/pginit")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build pginit: %v\n%s", err, out)
	}
	r.add(file{path: "/pginit", src: initBin, mode: 0o755})
	r.bytes("/etc/passwd", []byte("root:x:0:0:root:/:/pginit\npostgres:x:999:999:postgres:/var/lib/postgresql:/pginit\n"), 0o644)
	r.bytes("/etc/group", []byte("root:x:0:\npostgres:x:999:\n"), 0o644)
	r.dir("/var/lib/postgresql", 0o755)
	return r.build(ctx, e, "postgres", `ENTRYPOINT ["/pginit"]`, `CMD ["postgres"]`, "STOPSIGNAL SIGINT")
}

// Python builds an image holding the awa-pg virtualenv venv (a python artifact's install in
// the artifact cache) and the interpreter it was made with.
func Python(ctx context.Context, e *container.Engine, venv string) (string, error) {
	py := filepath.Join(venv, "bin", "python3")
	out, err := exec.CommandContext(ctx, py, "-c", "import sys; print(sys.base_prefix); print('%d.%d' % sys.version_info[:2])").Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", py, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return "", fmt.Errorf("%s: unexpected output %q", py, out)
	}
	base, ver := f[0], f[1]
	r := newRootfs()
	skip := func(p string) bool {
		b := filepath.Base(p)
		return b == "__pycache__" || b == "test" || b == "tests" || b == "idlelib" || b == "tkinter" || b == "turtledemo" ||
			b == "ensurepip" || b == "lib2to3" || strings.HasSuffix(p, "/site-packages") && strings.HasPrefix(p, base) || strings.HasSuffix(p, ".a")
	}
	stdlib := filepath.Join(base, "lib", "python"+ver)
	if err := r.copy(stdlib, stdlib, skip); err != nil {
		return "", err
	}
	for _, n := range []string{"python" + ver, "python3"} {
		p := filepath.Join(base, "bin", n)
		if err := r.copy(p, p, nil); err != nil {
			return "", err
		}
	}
	// A shared libpython, when the interpreter uses one.
	libpy, _ := filepath.Glob(filepath.Join(base, "lib", "libpython"+ver+"*.so*"))
	for _, l := range libpy {
		if err := r.copy(l, l, nil); err != nil {
			return "", err
		}
	}
	venvSkip := func(p string) bool {
		b := filepath.Base(p)
		return b == "__pycache__" || b == "pip" || strings.HasPrefix(b, "pip-") || b == "setuptools" || strings.HasPrefix(b, "setuptools-") || b == "_distutils_hack" || b == "pkg_resources"
	}
	if err := r.copy(venv, venv, venvSkip); err != nil {
		return "", err
	}
	var elfs []string
	for _, f := range r.files {
		if f.src != "" && (strings.HasSuffix(f.src, ".so") || strings.Contains(f.src, ".so.") || f.path == filepath.Join(base, "bin", "python"+ver)) {
			elfs = append(elfs, f.src)
		}
	}
	sort.Strings(elfs)
	if err := r.libs(ctx, elfs, base); err != nil {
		return "", err
	}
	return r.build(ctx, e, "python-awa", "ENV PATH="+filepath.Join(venv, "bin")+":/usr/bin:/bin", "ENV PYTHONDONTWRITEBYTECODE=1")
}

// CLI builds an image holding the awa binary awaBin at /usr/local/bin/awa.
func CLI(ctx context.Context, e *container.Engine, awaBin string) (string, error) {
	r := newRootfs()
	real, err := filepath.EvalSymlinks(awaBin)
	if err != nil {
		return "", err
	}
	r.add(file{path: "/usr/local/bin/awa", src: real, mode: 0o755})
	if err := r.libs(ctx, []string{real}); err != nil {
		return "", err
	}
	return r.build(ctx, e, "awa-cli", "ENV PATH=/usr/local/bin:/usr/bin:/bin")
}
