package pgbin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// debianGlob is where Debian and Ubuntu install one directory per server major version.
const debianGlob = "/usr/lib/postgresql/*/bin"

// Discover finds a directory holding the PostgreSQL server binaries initdb and postgres
// (pg_ctl is not needed) and returns it with the server's major version, as reported by
// "postgres --version" (15 for 15.4; 9 for 9.6).
//
// It looks, in order, at "pg_config --bindir", at /usr/lib/postgresql/*/bin (highest major
// first) and at $PATH, and takes the first directory that has both binaries. pg_config comes
// from the client development package and may point at a directory without a server; such a
// directory is skipped.
func Discover() (binDir string, version int, err error) {
	var looked []string

	// 1. pg_config --bindir.
	if pgConfig, err := exec.LookPath("pg_config"); err != nil {
		looked = append(looked, "pg_config --bindir (pg_config not in $PATH)")
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, pgConfig, "--bindir").Output()
		cancel()
		dir := strings.TrimSpace(string(out))
		switch {
		case err != nil:
			looked = append(looked, fmt.Sprintf("pg_config --bindir (%v)", err))
		case dir == "":
			looked = append(looked, "pg_config --bindir (empty output)")
		default:
			if err := hasServerBinaries(dir); err != nil {
				looked = append(looked, fmt.Sprintf("pg_config --bindir = %s (%v)", dir, err))
			} else {
				return withVersion(dir)
			}
		}
	}

	// 2. /usr/lib/postgresql/*/bin, highest version first.
	dirs, _ := filepath.Glob(debianGlob)
	sort.SliceStable(dirs, func(i, j int) bool {
		return versionKeyLess(dirVersionKey(dirs[j]), dirVersionKey(dirs[i]))
	})
	if len(dirs) == 0 {
		looked = append(looked, debianGlob+" (no matches)")
	}
	for _, dir := range dirs {
		if err := hasServerBinaries(dir); err != nil {
			looked = append(looked, fmt.Sprintf("%s (%v)", dir, err))
			continue
		}
		return withVersion(dir)
	}

	// 3. $PATH: the directory of postgres, else of initdb, must hold both.
	var pathErrs []string
	for _, name := range []string{"postgres", "initdb"} {
		p, err := exec.LookPath(name)
		if err != nil {
			pathErrs = append(pathErrs, name+" not found")
			continue
		}
		dir := filepath.Dir(p)
		if err := hasServerBinaries(dir); err != nil {
			pathErrs = append(pathErrs, fmt.Sprintf("%s: %v", dir, err))
			continue
		}
		return withVersion(dir)
	}
	looked = append(looked, "$PATH ("+strings.Join(pathErrs, "; ")+")")

	return "", 0, fmt.Errorf("find postgresql server binaries (initdb, postgres): looked in %s; "+
		"install the server (e.g. apt-get install postgresql, dnf install postgresql-server, brew install postgresql) "+
		"or set Config.BinDir", strings.Join(looked, ", "))
}

func withVersion(dir string) (string, int, error) {
	v, err := serverVersion(dir)
	if err != nil {
		return "", 0, err
	}
	return dir, v, nil
}

// ProbeBinDir checks a bin directory holding initdb and postgres and returns its major version.
func ProbeBinDir(dir string) (int, error) {
	if err := hasServerBinaries(dir); err != nil {
		return 0, fmt.Errorf("bin dir %s: %w", dir, err)
	}
	return serverVersion(dir)
}

// hasServerBinaries reports why dir lacks an executable initdb or postgres.
func hasServerBinaries(dir string) error {
	var missing []string
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no executable %s", strings.Join(missing, " or "))
	}
	return nil
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\)\s+(\d+)`)

// serverVersion runs "postgres --version" (allowed as root) and returns the major version.
func serverVersion(dir string) (int, error) {
	bin := filepath.Join(dir, "postgres")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return 0, fmt.Errorf("%s --version: %w", bin, err)
	}
	v, err := parseVersion(string(out))
	if err != nil {
		return 0, fmt.Errorf("%s --version: %w", bin, err)
	}
	return v, nil
}

// parseVersion extracts the major version from "postgres (PostgreSQL) 15.4 (Debian ...)".
func parseVersion(s string) (int, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("unrecognised version output %q", strings.TrimSpace(s))
	}
	v, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, fmt.Errorf("unrecognised version output %q", strings.TrimSpace(s))
	}
	return v, nil
}

// dirVersionKey turns /usr/lib/postgresql/9.6/bin into [9 6]; unparsable names sort last.
func dirVersionKey(binDir string) []int {
	name := filepath.Base(filepath.Dir(binDir))
	var key []int
	for _, part := range strings.Split(name, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return []int{-1}
		}
		key = append(key, n)
	}
	return key
}

func versionKeyLess(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// Installed finds an installed server of exactly this major: /usr/lib/postgresql/<major>/bin,
// "pg_config --bindir" or $PATH, each checked with "postgres --version".
func Installed(major int) (string, bool) {
	cands := []string{filepath.Join("/usr/lib/postgresql", strconv.Itoa(major), "bin")}
	if pgConfig, err := exec.LookPath("pg_config"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, pgConfig, "--bindir").Output()
		cancel()
		if dir := strings.TrimSpace(string(out)); err == nil && dir != "" {
			cands = append(cands, dir)
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		cands = append(cands, filepath.Dir(p))
	}
	for _, dir := range cands {
		if hasServerBinaries(dir) != nil {
			continue
		}
		if v, err := serverVersion(dir); err == nil && v == major {
			return dir, true
		}
	}
	return "", false
}
