package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:s3cret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://u@h/db?password=s3cret", "postgres://u@h/db?password=xxxxx"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestText(t *testing.T) {
	in := "connect postgres://bob:hunter2@db:5432/x failed; dsn host=db password=hunter2 user=bob; postgresql://a:b%40c@h/d"
	got := Text(in)
	if strings.Contains(got, "hunter2") || strings.Contains(got, "b%40c") {
		t.Fatalf("password left in %q", got)
	}
	if !strings.Contains(got, "postgres://bob:xxxxx@db:5432/x") {
		t.Fatalf("url mangled: %q", got)
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain ünïcode 😀\nline\ttab":     "plain ünïcode 😀\nline\ttab",
		"\x1b[31mred\x1b[0m":             `\x1b[31mred\x1b[0m`,
		"cr\roverwrite":                  `cr\roverwrite`,
		"nul\x00 del\x7f c1\u009b":       `nul\x00 del\x7f c1\u009b`,
		"bad \xff utf8":                  `bad \xff utf8`,
		"postgres://u:hunter2@h/db \x07": `postgres://u:xxxxx@h/db \a`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}
