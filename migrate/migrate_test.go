package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/matrix"
)

// standIn writes a shell script that plays a failing awa command; these tests are about how
// awacompat reads a failed command, not about awa.
func standIn(t *testing.T, body string) CLI {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "awa")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return CLI{Bin: bin, Version: "0.7.0-alpha.1", LogPath: filepath.Join(t.TempDir(), "log")}
}

func TestCommandErrorTellsAwaRefusalsFromFailures(t *testing.T) {
	const url = "postgres://u:hunter2@127.0.0.1:1/db"
	for _, tc := range []struct {
		name, body string
		code       int
		awa        string
	}{
		{"0.7 refusal", `echo "2026-12-02 INFO connecting" >&2; echo "error: storage transition not finalized (state: canonical): finalize first" >&2; exit 1`, 1, "storage transition not finalized (state: canonical): finalize first"},
		{"0.6 refusal", `echo 'Error: SchemaNotMigrated { expected: 40, found: 43 }' >&2; exit 1`, 1, "SchemaNotMigrated { expected: 40, found: 43 }"},
		{"exit 1 without awa's error line", `echo 'garbage'; exit 1`, 1, ""},
		{"another exit status", `echo 'error: blocked' >&2; exit 2`, 2, ""},
		{"killed", `kill -9 $$`, -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := standIn(t, tc.body).Run(context.Background(), url, "migrate")
			var ce *CommandError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CommandError", err)
			}
			if ce.ExitCode != tc.code || ce.AwaError != tc.awa {
				t.Errorf("exit %d, awa error %q; want %d, %q", ce.ExitCode, ce.AwaError, tc.code, tc.awa)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the password leaked into the error: %v", err)
			}
		})
	}
}

// RunKept keeps the command, with its exit status, and both outputs in the cell's folder, all
// without the password, and returns the outputs as printed.
func TestRunKeptKeepsTheCommandInDir(t *testing.T) {
	const url = "postgres://u:hunter2@127.0.0.1:1/db"
	dir := filepath.Join(t.TempDir(), "cell")
	stdout, stderr, err := standIn(t, `echo "out $DATABASE_URL"; echo 'Error: boom' >&2; exit 1`).RunKept(context.Background(), url, dir, "admin", "job", "list")
	var ce *CommandError
	if !errors.As(err, &ce) || ce.ExitCode != 1 || ce.AwaError != "boom" {
		t.Fatalf("error %v", err)
	}
	if stdout != "out "+url+"\n" || stderr != "Error: boom\n" {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}
	for name, want := range map[string]string{
		"admin.cmd":        "awa job list  (awa 0.7.0-alpha.1, DATABASE_URL=postgres://u:xxxxx@127.0.0.1:1/db)\nexit: exit status 1\n",
		"admin.stdout.log": "out postgres://u:xxxxx@127.0.0.1:1/db\n",
		"admin.stderr.log": "Error: boom\n",
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q (%v), want %q", name, b, err, want)
		}
	}
}

func TestParseStorageStatus(t *testing.T) {
	st, err := ParseStorageStatus("2026 INFO noise\n{\"state\":\"active\",\"current_engine\":\"queue_storage\",\"prepared_engine\":null,\"canonical_live_backlog\":0}\n")
	if err != nil || st.State != "active" || st.CurrentEngine != "queue_storage" || st.PreparedEngine != "" {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := ParseStorageStatus("no json here"); err == nil {
		t.Error("output without JSON accepted")
	}
}

func TestCheckEngine(t *testing.T) {
	active := oracle.Engine{State: "active", CurrentEngine: "queue_storage", Authority: "columns"}
	canonical := oracle.Engine{State: "canonical", CurrentEngine: "canonical", Authority: "ledger"}
	mixed := oracle.Engine{State: "mixed_transition", CurrentEngine: "canonical", PreparedEngine: "queue_storage"}
	for _, tc := range []struct {
		want matrix.Engine
		e    oracle.Engine
		ok   bool
	}{
		{matrix.Canonical, canonical, true},
		{matrix.QueueStorage, active, true},
		{matrix.QSColumns, active, true},
		{matrix.QSLedger, active, false},
		{matrix.Canonical, active, false},
		{matrix.QueueStorage, canonical, false},
		{matrix.QueueStorage, mixed, false},
	} {
		if err := CheckEngine(tc.want, tc.e); (err == nil) != tc.ok {
			t.Errorf("CheckEngine(%s, %s) = %v, want ok=%v", tc.want, tc.e, err, tc.ok)
		}
	}
}

func TestRefusalChanges(t *testing.T) {
	before := fingerprint{history: []oracle.SchemaRow{{Version: 39}, {Version: 40}}, engine: oracle.Engine{State: "canonical", CurrentEngine: "canonical"}}
	if c := before.changes(before); len(c) != 0 {
		t.Errorf("identical snapshots differ: %v", c)
	}
	after := fingerprint{history: []oracle.SchemaRow{{Version: 39}}, engine: before.engine}
	if c := before.changes(after); len(c) != 1 || !strings.Contains(c[0], "MAX 40 -> 1 rows, MAX 39") {
		t.Errorf("a removed schema row: %v", c)
	}
	flipped := fingerprint{history: before.history, engine: oracle.Engine{State: "canonical", CurrentEngine: "canonical", Authority: "ledger"}}
	if c := before.changes(flipped); len(c) != 1 || !strings.Contains(c[0], "authority=ledger") {
		t.Errorf("a changed authority: %v", c)
	}
}
