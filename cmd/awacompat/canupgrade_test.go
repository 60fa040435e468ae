package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shipped is a real run of the shipped matrix.yaml (519 cells, all as expected).
const shipped = "../../internal/report/testdata/shipped-519"

// can-i-upgrade's exit code is its answer: 0 safe, 1 not safe, 2 not enough evidence.
func TestCanIUpgradeExitCodes(t *testing.T) {
	noMigrate := "producer,producer2,worker,admin"
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"0.5.7 on both engines", []string{"--from", "0.5.7", "--to", "0.6.9"}, exitMismatch, "can-i-upgrade 0.5.7 -> 0.6.9: NOT SAFE (exit 1)"},
		{"0.5.7 on canonical, never migrating", []string{"--from", "0.5.7", "--to", "0.6.9", "--engine", "canonical", "--roles", noMigrate}, exitOK, "canonical (fresh, upgraded-from-py-0.5.7): SAFE"},
		{"0.6.0 on canonical, never migrating", []string{"--from", "0.6.0", "--to", "0.6.9", "--engine", "canonical", "--roles", noMigrate}, 2, "admin_reads on fresh: old admin cli-0.6.0 with a new producer"},
		{"python clients, flags after the folder", []string{shipped, "--from", "py-0.6.0", "--to", "py-0.6.9", "--schema-path", "upgraded-from py-0.5.7", "--roles", "producer,worker"}, exitOK, "SAFE (exit 0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"can-i-upgrade"}, tc.args...)
			if !strings.HasPrefix(tc.args[0], "../") {
				args = append(args, shipped)
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != tc.code || !strings.Contains(stdout, tc.want) {
				t.Errorf("exit %d (want %d), stdout lacks %q?\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
}

func TestCanIUpgradeJSON(t *testing.T) {
	code, _, stderr := runCLI(t, "can-i-upgrade", "--format", "json", "--from", "0.6.0rc4", "--to", "0.6.9", shipped)
	if code != exitUsage || !strings.Contains(stderr, "no client of awa 0.6.0-rc.4 ran in this run") {
		t.Errorf("an absent pre-release: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "can-i-upgrade", "--format", "json", "--from", "0.6.0", "--to", "0.6.9", "--engine", "queue_storage", shipped)
	var a struct {
		Verdict  string `json:"verdict"`
		ExitCode int    `json:"exit_code"`
		Engines  []struct {
			Engine   string `json:"engine"`
			Failures []struct {
				Scenarios []string `json:"scenarios"`
				Because   string   `json:"because"`
			} `json:"failures"`
			Limits []struct {
				Scenarios []string `json:"scenarios"`
			} `json:"limits"`
		} `json:"engines"`
	}
	if err := json.Unmarshal([]byte(stdout), &a); err != nil {
		t.Fatalf("not JSON: %v\n%s%s", err, stdout, stderr)
	}
	if code != exitMismatch || a.Verdict != "not_safe" || a.ExitCode != code || len(a.Engines) != 1 {
		t.Fatalf("exit %d, answer %+v", code, a)
	}
	e := a.Engines[0]
	if len(e.Failures) != 1 || e.Failures[0].Scenarios[0] != "migrate_refusal" || !strings.Contains(e.Failures[0].Because, "#392") {
		t.Errorf("failures %+v, want 0.6.0's migrate (#392)", e.Failures)
	}
	if len(e.Limits) != 1 || e.Limits[0].Scenarios[0] != "cancel_by_unique_key_running" {
		t.Errorf("limits %+v, want 0.6.9's own cancel_by_unique_key_running under queue_storage", e.Limits)
	}
}

func TestCanIUpgradeUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{shipped}, "want --from and --to"},
		{[]string{"--from", "0.5.7", "--to", "0.6.9"}, "want one results folder"},
		{[]string{"--from", "0.5.7", "--to", "0.6.9", "--format", "yaml", shipped}, `unknown --format "yaml"`},
		{[]string{"--from", "0.5", "--to", "0.6.9", shipped}, `"0.5" is neither an artifact of this run nor a release`},
		{[]string{"--from", "0.5.7", "--to", "0.6.9", "--engine", "queue_storage:ledger", shipped}, "engines: canonical, queue_storage"},
		{[]string{"--from", "0.5.7", "--to", "0.6.9", t.TempDir()}, "read results"},
	} {
		code, _, stderr := runCLI(t, append([]string{"can-i-upgrade"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr lacks %q:\n%s", tc.args, code, tc.want, stderr)
		}
	}
}

// report --format svg links its squares to the report.html next to the results, from wherever
// the SVG is written.
func TestReportSVG(t *testing.T) {
	out := filepath.Join(t.TempDir(), "support.svg")
	if code, _, stderr := runCLI(t, "report", "--format", "svg", "--out", out, shipped); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name
		Links   []struct {
			Href string `xml:"href,attr"`
		} `xml:"a"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	if doc.XMLName.Local != "svg" || len(doc.Links) == 0 {
		t.Fatalf("root %s, %d top-level links", doc.XMLName.Local, len(doc.Links))
	}
	abs, _ := filepath.Abs(shipped)
	rel, _ := filepath.Rel(filepath.Dir(out), abs)
	for _, l := range doc.Links {
		if !strings.HasPrefix(l.Href, filepath.ToSlash(rel)+"/report.html#cell-") {
			t.Fatalf("link %q does not lead to %s/report.html", l.Href, rel)
		}
	}
}
