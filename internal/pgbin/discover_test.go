package pgbin

import (
	"os"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]int{
		"postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n": 15,
		"postgres (PostgreSQL) 9.6.24\n":                         9,
		"postgres (PostgreSQL) 17devel":                          17,
		"postgres (PostgreSQL) 16.2 (Homebrew)":                  16,
	} {
		if got, err := parseVersion(in); err != nil || got != want {
			t.Errorf("parseVersion(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseVersion("something else"); err == nil {
		t.Error("parseVersion accepted garbage")
	}
}

func TestDirVersionOrder(t *testing.T) {
	a, b := dirVersionKey("/usr/lib/postgresql/9.6/bin"), dirVersionKey("/usr/lib/postgresql/15/bin")
	if !versionKeyLess(a, b) || versionKeyLess(b, a) {
		t.Errorf("want 9.6 < 15: %v %v", a, b)
	}
	if !versionKeyLess(dirVersionKey("/usr/lib/postgresql/weird/bin"), a) {
		t.Error("unparsable version should sort lowest")
	}
}

func TestDiscover(t *testing.T) {
	bin, v, err := Discover()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no PostgreSQL server: %v", err)
		}
		t.Skipf("no PostgreSQL server: %v", err)
	}
	if err := hasServerBinaries(bin); err != nil {
		t.Fatal(err)
	}
	if v < 10 {
		t.Errorf("version %d; want >= 10", v)
	}
	t.Logf("discovered %s (major %d)", bin, v)
}
