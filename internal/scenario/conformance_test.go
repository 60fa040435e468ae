package scenario

// The conformance test: every scenario runs through the Python probe and the Rust probe of the
// same awa release (0.6.9, the newest), with that probe in every role, under both engines, on
// a real embedded PostgreSQL with templates migrated by the real awa 0.6.9 CLI. A scenario
// means the same in both languages only if both reach the same verdict here. The awa CLI
// 0.6.9 also plays every role a scenario's CLIRoles give it (cancel's and admin_reads' admin,
// migrate_refusal's migrator).
//
// Nothing is mocked and nothing is skipped in CI (CI=true): a missing server or artifact fails.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/pgserver"
	"github.com/awacompat/awacompat/internal/version"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/migrate"
	"github.com/awacompat/awacompat/pinned"
	"github.com/awacompat/awacompat/probes"
	"github.com/jackc/pgx/v5"
)

const conformanceVersion = "0.6.9"

// conformanceScenarios are the catalog's scenarios that run in every language: every one with
// roles on a fresh template (not target_migrate, which has no roles, nor the upgraded-only
// ones), and those that migrate in the cell, on the pending template of a path upgraded from
// conformanceVersion's own Python SDK (the target's migrate is then a no-op, but runs in the
// cell). cli are those that also run with the awa CLI in their CLIRoles.
func conformanceScenarios() (all, cli []matrix.Scenario) {
	for _, s := range matrix.Catalog {
		if len(s.Roles) == 0 || (s.UpgradedOnly && !s.MigratesInCell) || s.Name == matrix.SuiteScenario {
			continue
		}
		all = append(all, s)
		if len(s.CLIRoles) > 0 {
			cli = append(cli, s)
		}
	}
	return all, cli
}

// knownDefect is a cell where awa itself does not keep the contract; the test holds the exact
// verdict and finding, so a fix (or a new way of failing) shows up here too.
type knownDefect struct {
	verdict matrix.Verdict
	finding string
	why     string
}

var knownDefects = map[string]knownDefect{
	// awa-model 0.6.9 admin::unique_key_candidate_sql (and HEAD fdeb8dd) finds a running job
	// only through awa.leases; a default 0.6.9 worker runs jobs on receipt-backed claims
	// (lease_claims, ADR-023 "now the default"), so the lookup finds nothing, returns None,
	// and the held job runs to completion. cancel by id (cancel_job_tx) does handle receipts.
	"queue_storage/cancel_by_unique_key_running": {matrix.Fail, "cancel_by_unique_key returned nothing and the job is still running",
		"awa 0.6.9 cancel_by_unique_key cannot see a job running on a receipt-backed claim under queue storage"},
}

// testCargoTarget is the CARGO_TARGET_DIR the tests' Rust probe builds share: not the user's
// artifact cache, and stable across runs, so awa's dependency crates compile once per machine
// rather than once per test. $AWACOMPAT_TEST_CARGO_TARGET, else a folder in os.TempDir().
// (pinned's tests use the same folder.)
func testCargoTarget() string {
	if d := os.Getenv("AWACOMPAT_TEST_CARGO_TARGET"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "awacompat-test-cargo-target")
}

func requireServerOrSkip(t *testing.T) {
	t.Helper()
	if _, _, err := pgserver.Discover(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no PostgreSQL server binaries: %v", err)
		}
		t.Skipf("no PostgreSQL server: %v", err)
	}
}

func TestConformance(t *testing.T) {
	if testing.Short() {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: the conformance test must run; do not pass -short")
		}
		t.Skip("runs real awa releases against PostgreSQL")
	}
	requireServerOrSkip(t)
	c := &conformance{
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		sem: make(chan struct{}, 3),
	}
	c.startServer(t)
	c.install(t)
	c.buildTemplates(t)

	all, cli := conformanceScenarios()
	for _, eng := range matrix.BaseEngines {
		for _, sc := range all {
			for _, l := range c.langs {
				t.Run(eng+"/"+sc.Name+"/"+l.name, func(t *testing.T) {
					if l.err != nil {
						t.Fatalf("the %s probe for awa %s did not install: %v", l.name, conformanceVersion, l.err)
					}
					c.run(t, eng, sc, l.name, func(string) Probe {
						return Probe{Argv: l.art.Probe, Forks: l.forks, Kind: l.name, Version: conformanceVersion}
					})
				})
			}
		}
		for _, b := range brokenRescuers {
			t.Run(eng+"/crash_rescue/broken-rescuer-"+b.mode, func(t *testing.T) {
				c.brokenRescuer(t, eng, b.mode, b.want)
			})
		}
		for _, sc := range cli {
			t.Run(eng+"/"+sc.Name+"/cli", func(t *testing.T) {
				py := c.langs[0]
				if py.err != nil {
					t.Fatalf("the python probe did not install: %v", py.err)
				}
				c.run(t, eng, sc, "cli", func(role string) Probe {
					if slices.Contains(sc.CLIRoles, role) {
						return Probe{AwaBin: c.cliBin, Kind: "cli", Version: conformanceVersion}
					}
					return Probe{Argv: py.art.Probe, Forks: py.forks, Kind: "python", Version: conformanceVersion}
				})
			})
		}
	}
}

// conformance is the test's fixture: one server, the artifacts of conformanceVersion, and a
// template per engine to clone for each subtest.
type conformance struct {
	log   *slog.Logger
	srv   *pgserver.Server
	admin *pgx.Conn
	// cloneMu serializes CREATE/DROP DATABASE (a template cannot be cloned while in use).
	cloneMu sync.Mutex
	cliBin  string
	langs   []conformanceLang
	// templates are the template databases by key (the engine, or "<engine>.pending"), with
	// what each was built as.
	templates map[string]string
	defs      map[string]matrix.Template
	built     map[string]migrate.Result
	releases  map[string]migrate.Release
	// sem bounds the subtests that run at once.
	sem chan struct{}
}

// conformanceLang is one probe language's artifact, or why it did not install.
type conformanceLang struct {
	name  string
	art   *pinned.Installed
	forks *probes.Forks // the Python probe's fork server
	err   error
}

func (c *conformance) startServer(t *testing.T) {
	ctx := context.Background()
	srv, err := pgserver.Start(ctx, pgserver.Config{Log: c.log})
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("stop postgres: %v", err)
		}
	})
	c.srv = srv
	if c.admin, err = pgx.Connect(ctx, srv.URL("postgres")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.admin.Close(context.Background()) })
}

// install installs the awa CLI and the Python and Rust probes of conformanceVersion; a probe
// that does not install fails its own subtests.
func (c *conformance) install(t *testing.T) {
	probesDir, err := filepath.Abs(filepath.Join("..", "..", "probes"))
	if err != nil {
		t.Fatal(err)
	}
	// A cache of the test's own; the Rust build output is shared between runs (testCargoTarget).
	cache := &pinned.Cache{Root: t.TempDir(), ProbesDir: probesDir, CargoTargetDir: testCargoTarget(), Log: c.log}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // a cold Rust build is slow
	defer cancel()
	cliArt, err := cache.Install(ctx, pinned.Spec{Kind: pinned.CLI, Version: version.MustParse(conformanceVersion)})
	if err != nil {
		t.Fatalf("install the awa CLI %s: %v", conformanceVersion, err)
	}
	c.cliBin = cliArt.AwaBin
	for _, k := range []pinned.Kind{pinned.Python, pinned.Rust} {
		in, err := cache.Install(ctx, pinned.Spec{Kind: k, Version: version.MustParse(conformanceVersion)})
		l := conformanceLang{name: string(k), art: in, err: err}
		if k == pinned.Python && err == nil {
			// Python probes start as the runner starts them: forked by a server of the release.
			if l.forks, err = probes.ServeForks(in.Probe, filepath.Join(t.TempDir(), "forks.log")); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.forks.Close() })
		}
		c.langs = append(c.langs, l)
	}
}

// buildTemplates builds, per engine, a fresh template (migrated by the real awa CLI and put
// under the engine with awa's own function) and a pending template of a path upgraded from
// conformanceVersion's Python SDK, exactly as the runner does.
func (c *conformance) buildTemplates(t *testing.T) {
	ctx := context.Background()
	mcli := migrate.CLI{Bin: c.cliBin, Version: conformanceVersion, LogPath: filepath.Join(t.TempDir(), "templates.log")}
	v := version.MustParse(conformanceVersion)
	c.releases = map[string]migrate.Release{matrix.TargetRelease: {Name: matrix.TargetRelease, Version: v, CLI: mcli}}
	from := matrix.Artifact{Name: "py-" + conformanceVersion, Kind: "python", Version: v}
	if py := c.langs[0]; py.err == nil {
		c.releases[from.Name] = migrate.Release{Name: from.Name, Version: v, CLI: mcli, Probe: py.art.Probe}
	}
	c.templates, c.defs, c.built = map[string]string{}, map[string]matrix.Template{}, map[string]migrate.Result{}
	for _, eng := range matrix.BaseEngines {
		pending, _ := matrix.NewTemplate(matrix.SchemaPath{From: from.Name}, matrix.Engine(eng), from).AsPending()
		for key, def := range map[string]matrix.Template{
			eng:              matrix.NewTemplate(matrix.SchemaPath{}, matrix.Engine(eng), matrix.Artifact{}),
			eng + ".pending": pending,
		} {
			name := "conf_tpl_" + strings.ReplaceAll(key, ".", "_")
			if _, err := c.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
				t.Fatal(err)
			}
			res, err := migrate.Build{Template: def, Releases: c.releases, URL: c.srv.URL(name), Dir: t.TempDir()}.Run(ctx)
			if err != nil {
				t.Fatalf("template %s: %v", def.Name(), err)
			}
			c.templates[key], c.defs[key], c.built[key] = name, def, res
		}
	}
}

// clone makes the subtest's own database from eng's template, dropped when the subtest ends.
func (c *conformance) clone(t *testing.T, key string) string {
	c.cloneMu.Lock()
	defer c.cloneMu.Unlock()
	name := fmt.Sprintf("conf_%d", time.Now().UnixNano())
	if _, err := c.admin.Exec(context.Background(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{c.templates[key]}.Sanitize()); err != nil {
		t.Fatalf("clone: %v", err)
	}
	t.Cleanup(func() {
		c.cloneMu.Lock()
		defer c.cloneMu.Unlock()
		if _, err := c.admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return c.srv.URL(name)
}

// run runs scenario sc under eng in a clone, with bind choosing each role's probe, and holds
// its verdict to pass (or to a known defect's).
func (c *conformance) run(t *testing.T, eng string, sc matrix.Scenario, variant string, bind func(role string) Probe) {
	out, dir := c.outcome(t, eng, sc, variant, bind)
	want, finding := matrix.Pass, ""
	if d, ok := knownDefects[eng+"/"+sc.Name]; ok && variant != "cli" {
		want, finding = d.verdict, d.finding
		t.Logf("known awa defect, expecting %s: %s", d.verdict, d.why)
	}
	joined := strings.Join(out.Findings, "\n")
	if out.Verdict != want || (finding != "" && !strings.Contains(joined, finding)) {
		t.Errorf("verdict %s (want %s): %s\nfindings:\n%s\nerror: %+v\nprobe stderr:\n%s",
			out.Verdict, want, out.Detail, joined, out.Error, allStderr(dir))
		return
	}
	t.Logf("%s: %s", out.Verdict, out.Detail)
}

// outcome runs scenario sc under eng in a clone, with bind choosing each role's probe, and
// returns its outcome and the probes' folder.
func (c *conformance) outcome(t *testing.T, eng string, sc matrix.Scenario, variant string, bind func(role string) Probe) (Outcome, string) {
	t.Parallel()
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	key := eng
	if sc.MigratesInCell {
		key += ".pending"
	}
	url := c.clone(t, key)
	built := c.built[key]
	env := Env{
		CellID: fmt.Sprintf("conformance.%s.%s.%s", eng, sc.Name, variant), Engine: eng, URL: url,
		Dir: t.TempDir(), Probes: map[string]Probe{}, Inert: 10 * time.Second,
		Template: TemplateInfo{Engine: matrix.Engine(eng), Built: built.State, Steps: built.Steps, Def: c.defs[key]},
		Releases: c.releases,
	}
	for _, role := range sc.Roles {
		env.Probes[role] = bind(role)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	out := Run(ctx, sc.Name, env)
	checkEngineKept(t, eng, url)
	return out, env.Dir
}

// checkEngineKept fails t when the engine moved under the scenario (what the runner re-checks).
func checkEngineKept(t *testing.T, eng, url string) {
	ctx := context.Background()
	o, err := oracle.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	e, err := o.Engine(ctx)
	o.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.CheckEngine(matrix.Engine(eng), e); err != nil {
		t.Errorf("engine changed under the scenario: %v", err)
	}
}

// allStderr gathers the tail of every probe's stderr in dir.
func allStderr(dir string) string {
	m, _ := filepath.Glob(filepath.Join(dir, "*.stderr.log"))
	var b strings.Builder
	for _, f := range m {
		name := strings.TrimSuffix(filepath.Base(f), ".stderr.log")
		fmt.Fprintf(&b, "--- %s\n%s\n", name, probes.StderrTail(dir, name, 12))
	}
	return b.String()
}

// brokenRescuers are rescuers that must never pass crash_rescue: the real Python probe of
// conformanceVersion with its spec altered on the way in. "no-timing" drops the rescue timing
// (awa's defaults: 90 s staleness, so no rescue inside the window: fail); "elsewhere" works
// another queue (live, leading, but never claims anything, not even its own control job:
// inert).
var brokenRescuers = []struct {
	mode string
	want matrix.Verdict
}{{"no-timing", matrix.Fail}, {"elsewhere", matrix.Inert}}

// brokenRescuerWrapper rewrites the spec (the last argument) as the mode says, then runs the
// real probe (the arguments between the mode and the spec) with it.
const brokenRescuerWrapper = `import json, os, sys
mode, probe, path = sys.argv[1], sys.argv[2:-1], sys.argv[-1]
spec = json.load(open(path))
for s in spec["steps"]:
    if s["op"] != "work":
        continue
    if mode == "no-timing":
        for k in ("heartbeat_interval_ms", "heartbeat_staleness_ms", "heartbeat_rescue_interval_ms", "leader_election_interval_ms"):
            s.pop(k, None)
    elif mode == "elsewhere":
        s["queue"] = "awacompat_elsewhere"
broken = path + ".broken.json"
json.dump(spec, open(broken, "w"))
os.execv(probe[0], probe + [broken])
`

func (c *conformance) brokenRescuer(t *testing.T, eng, mode string, want matrix.Verdict) {
	py := c.langs[0]
	if py.err != nil {
		t.Fatalf("the python probe did not install: %v", py.err)
	}
	wrapper := filepath.Join(t.TempDir(), "broken_rescuer.py")
	if err := os.WriteFile(wrapper, []byte(brokenRescuerWrapper), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, _ := matrix.LookupScenario("crash_rescue")
	out, dir := c.outcome(t, eng, sc, "broken-"+mode, func(role string) Probe {
		p := Probe{Argv: py.art.Probe, Forks: py.forks, Kind: "python", Version: conformanceVersion}
		if role == "rescuer" {
			p.Argv, p.Forks = append([]string{"python3", wrapper, mode}, py.art.Probe...), nil
		}
		return p
	})
	if out.Verdict != want {
		t.Fatalf("verdict %s (want %s): %s\nfindings: %v\nprobe stderr:\n%s", out.Verdict, want, out.Detail, out.Findings, allStderr(dir))
	}
	t.Logf("%s: %s", out.Verdict, out.Detail)
}
