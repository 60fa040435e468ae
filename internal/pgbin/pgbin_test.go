package pgbin

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckMajor(t *testing.T) {
	for major, want := range map[int]string{
		13: "PostgreSQL 13 is below awa's floor of 14",
		9:  "below awa's floor",
		19: "unknown PostgreSQL major 19: awacompat knows 14, 15, 16, 17, 18",
	} {
		err := CheckMajor(major)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckMajor(%d) = %v; want %q", major, err, want)
		}
	}
	for _, m := range Majors() {
		if err := CheckMajor(m); err != nil {
			t.Errorf("CheckMajor(%d) = %v", m, err)
		}
	}
}

// TestChecksumRefused serves a jar whose bytes are not the pinned ones: it is refused and
// nothing is left in the cache.
func TestChecksumRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("not the pinned jar"))
	}))
	defer srv.Close()
	cache := t.TempDir()
	_, err := Find(t.Context(), 17, Config{Cache: cache, BaseURL: srv.URL, SkipInstalled: true})
	if err == nil || !strings.Contains(err.Error(), "refusing it") {
		t.Fatalf("err = %v; want a checksum refusal", err)
	}
	left, _ := filepath.Glob(filepath.Join(cache, "postgres", Builds[17].Version+"*"))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	entries, _ := os.ReadDir(filepath.Join(cache, "postgres"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".download") || strings.HasPrefix(e.Name(), ".unpack") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestNotFound(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := Find(t.Context(), 16, Config{Cache: t.TempDir(), BaseURL: srv.URL, SkipInstalled: true})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v; want the HTTP status", err)
	}
}
