package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/awacompat/awacompat/internal/pgbin"
	"github.com/awacompat/awacompat/internal/progress"
	"github.com/awacompat/awacompat/internal/report"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/runner"
	"github.com/awacompat/awacompat/internal/suite"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/pinned"
	"github.com/awacompat/awacompat/probes"
)

// Exit codes. README.md documents them; a release gate relies on them.
const (
	exitOK          = 0   // every cell matched its expectation
	exitMismatch    = 1   // at least one cell did not
	exitUsage       = 2   // bad input or usage
	exitInfra       = 3   // infrastructure failed (server, install, template)
	exitInterrupted = 130 // Ctrl-C or SIGTERM; results.json is still written
)

// toolVersion is set at build time with -ldflags "-X main.toolVersion=...".
var toolVersion = "dev"

const usage = `awacompat: run awa releases against the newest schema under both storage engines.

usage:
  awacompat plan  [flags] matrix.yaml      print the cells a run would execute (no database)
  awacompat run   [flags] matrix.yaml      run the matrix; results in --out (default awacompat-out)
  awacompat fetch [flags] matrix.yaml      install every artifact the matrix needs, run nothing
  awacompat report [--format table|junit|markdown|html|json|support|svg] [--out FILE] [--check] DIR
                                          render a results folder
  awacompat report merge --out DIR [--check] DIR...
                                          join shard results into one folder
  awacompat can-i-upgrade --from A --to B [--engine E] [--schema-path P] DIR
                                          can a fleet roll from release A to B? (exit 0 safe,
                                          1 not safe, 2 not enough evidence)

Run "awacompat <command> -h" for the command's flags.
exit codes: 0 all cells as expected, 1 a cell differs, 2 bad input, 3 infrastructure failed,
130 interrupted.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "plan":
		return cmdPlan(ctx, args[1:], stdout, stderr)
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "fetch":
		return cmdFetch(ctx, args[1:], stdout, stderr)
	case "report":
		return cmdReport(ctx, args[1:], stdout, stderr)
	case "can-i-upgrade":
		return cmdCanUpgrade(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "awacompat: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// parseInterspersed parses flags that may follow positional arguments
// (`awacompat run matrix.yaml --out x`).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// selection holds the flags shared by plan, run and fetch: which cells, and where the target
// comes from.
type selection struct {
	only, skip   multiFlag
	shard        string
	targetSource string
	strict       bool
	allowEmpty   bool
}

// targetSourceEnv supplies --target-source when the flag is not given, so one matrix file
// serves every machine and CI.
const targetSourceEnv = "AWACOMPAT_TARGET_SOURCE"

func (s *selection) register(fs *flag.FlagSet) {
	fs.Var(&s.only, "only", "keep cells matching `EXPR` (key=value[,key=value]; repeatable; keys: id engine scenario schema_path kind version artifact producer worker admin producer2 migrator)")
	fs.Var(&s.skip, "skip", "drop cells matching `EXPR` (as --only)")
	fs.StringVar(&s.shard, "shard", "", "run the `i/n`-th stable partition of the cells")
	fs.BoolVar(&s.strict, "strict", false, "treat matrix warnings (expect rules that never apply) as errors")
	fs.BoolVar(&s.allowEmpty, "allow-empty", false, "a selection or shard with no cell is not an error: say so and exit 0 (for generated CI job matrices)")
	fs.StringVar(&s.targetSource, "target-source", os.Getenv(targetSourceEnv), "the target's awa checkout (or prebuilt awa binary) at `PATH`, overriding target.source; artifacts with source: target are built from it (default $"+targetSourceEnv+")")
}

func (s *selection) options() matrix.Options {
	return matrix.Options{Only: s.only, Skip: s.skip, Shard: s.shard}
}

// loadPlan loads the matrix and plans it; errors are bad input.
func loadPlan(stderr io.Writer, pos []string, sel selection) (*matrix.Matrix, *matrix.Plan, int) {
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "awacompat: want exactly one matrix file")
		return nil, nil, exitUsage
	}
	m, err := matrix.Load(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, nil, exitUsage
	}
	m.ResolveTargetSource(sel.targetSource)
	if warnings := matrix.Lint(m); len(warnings) > 0 {
		for _, w := range warnings {
			fmt.Fprintln(stderr, "awacompat: warning:", w)
		}
		if sel.strict {
			fmt.Fprintln(stderr, "awacompat: --strict: warnings are errors")
			return nil, nil, exitUsage
		}
	}
	p, err := matrix.NewPlan(m, sel.options())
	if err != nil {
		fmt.Fprintln(stderr, "awacompat:", err)
		return nil, nil, exitUsage
	}
	if len(p.Cells) == 0 {
		// A green gate that tested nothing is the worst answer a gate can give.
		what := fmt.Sprintf("the selection (%s) matches none of the %d cells", sel.describe(), p.Total)
		if p.Total == 0 {
			what = "the matrix plans no cells (no fleet binds the roles of its scenarios)"
		}
		if sel.allowEmpty && p.Total > 0 {
			fmt.Fprintf(stderr, "awacompat: %s; nothing to do (--allow-empty)\n", what)
			return m, p, exitOK
		}
		fmt.Fprintf(stderr, "awacompat: %s\n", what)
		return nil, nil, exitUsage
	}
	return m, p, exitOK
}

// describe says what the selection flags asked for.
func (s *selection) describe() string {
	var parts []string
	for _, o := range s.only {
		parts = append(parts, "--only "+o)
	}
	for _, o := range s.skip {
		parts = append(parts, "--skip "+o)
	}
	if s.shard != "" {
		parts = append(parts, "--shard "+s.shard)
	}
	return strings.Join(parts, " ")
}

// planCommand is the start every matrix command shares: its flag set (the selection flags plus
// the command's own, added by flags), validate run on the parsed flags before anything is
// created, then the matrix loaded and planned. A code other than exitOK ends the command.
func planCommand(name string, args []string, stderr io.Writer, flags func(*flag.FlagSet), validate func() error) (*matrix.Matrix, *matrix.Plan, selection, int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sel selection
	sel.register(fs)
	if flags != nil {
		flags(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, nil, sel, exitUsage
	}
	if validate != nil {
		if err := validate(); err != nil {
			fmt.Fprintf(stderr, "awacompat %s: %v\n", name, err)
			return nil, nil, sel, exitUsage
		}
	}
	m, p, code := loadPlan(stderr, pos, sel)
	return m, p, sel, code
}

func cmdPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var format string
	var shards int
	m, p, sel, code := planCommand("plan", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "text", "output `format`: text, json or github-matrix")
		fs.IntVar(&shards, "shards", 0, "with --format github-matrix: split the cells into `N` shards (default: one job per cell)")
	}, func() error {
		if format != "text" && format != "json" && format != "github-matrix" {
			return fmt.Errorf("unknown --format %q (text, json, github-matrix)", format)
		}
		return nil
	})
	if code != exitOK {
		return code
	}
	switch format {
	case "github-matrix":
		gm, err := githubMatrix(m, sel, p, shards)
		if err != nil {
			fmt.Fprintln(stderr, "awacompat plan:", err)
			return exitUsage
		}
		fmt.Fprintln(stdout, gm)
	case "text":
		if err := p.Print(stdout); err != nil {
			return exitInfra
		}
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(newPlanJSON(p)); err != nil {
			return exitInfra
		}
	}
	return exitOK
}

// newCache prepares the artifact cache and the probe sources inside it.
func newCache(dir string, log *slog.Logger) (*pinned.Cache, error) {
	if dir == "" {
		dir = pinned.DefaultRoot()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	probesDir, err := probes.Extract(dir)
	if err != nil {
		return nil, err
	}
	return &pinned.Cache{Root: dir, ProbesDir: probesDir, Log: log}, nil
}

// templateCacheDir is where built templates are kept across runs ("" with
// --rebuild-templates: nothing is restored; the run's builds are not kept either).
func templateCacheDir(c *pinned.Cache, rebuild bool) string {
	if rebuild {
		return ""
	}
	return filepath.Join(c.Root, "templates")
}

func newLogger(stderr io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// runOptions are run's flags besides the selection.
type runOptions struct {
	out, pgURL, cacheDir, unexpected string
	parallel                         string
	keep, verbose, rebuild           bool
}

// parallelism is --parallel as runner.Config.Parallel: N, or runner.AutoParallel (auto, the
// default).
func (o runOptions) parallelism() (int, error) {
	switch o.parallel {
	case "", "auto":
		return runner.AutoParallel, nil
	}
	n, err := strconv.Atoi(o.parallel)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--parallel %q: want a positive number or auto", o.parallel)
	}
	return n, nil
}

// Validate checks the flags before anything is created: a usage error leaves no cache, output
// folder or server behind.
func (o runOptions) Validate() error {
	if o.unexpected != "fail" && o.unexpected != "warn" {
		return fmt.Errorf("--unexpected-pass %q: want fail or warn", o.unexpected)
	}
	if _, err := o.parallelism(); err != nil {
		return err
	}
	if err := checkDirFlag("--out", o.out); err != nil {
		return err
	}
	if err := checkDirFlag("--cache", o.cacheDir); err != nil {
		return err
	}
	return checkPGURL(o.pgURL)
}

// checkDirFlag refuses a path that exists and is not a directory.
func checkDirFlag(flag, path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		return fmt.Errorf("%s %s: not a directory", flag, path)
	}
	return nil
}

// checkPGURL refuses anything but a postgres:// URL with a host; a keyword connection string
// (host=... user=...) is not accepted, because only a URL can be given a database name per
// cell. The message never repeats the value: it may hold a password.
func checkPGURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return fmt.Errorf("--pg-url: want a URL like postgres://USER@HOST:PORT/DB (a keyword string such as \"host=... user=...\" is not accepted)")
	}
	return nil
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o runOptions
	m, p, _, code := planCommand("run", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&o.out, "out", "awacompat-out", "results `DIR` (results.json and per-cell logs)")
		fs.StringVar(&o.pgURL, "pg-url", "", "use the existing server at `URL` instead of the embedded one (creates and drops only awacompat_* databases)")
		fs.StringVar(&o.parallel, "parallel", "", "`N` cells run at once, or auto (the default): admitted by the CPU they leave free (one per CPU, more while the CPUs are idle, at most 4 per CPU)")
		fs.BoolVar(&o.keep, "keep-failed", false, "keep the database of every cell that did not match, and print how to connect")
		fs.StringVar(&o.unexpected, "unexpected-pass", "fail", "how a pass where another verdict was expected counts: `fail` (exit 1) or warn (reported, exit 0)")
		fs.StringVar(&o.cacheDir, "cache", "", "artifact cache `DIR` (default $XDG_CACHE_HOME/awacompat or ~/.cache/awacompat)")
		fs.BoolVar(&o.verbose, "v", false, "debug logs")
		fs.BoolVar(&o.rebuild, "rebuild-templates", false, "build every template from its steps, not from the template cache (the cache is refreshed)")
	}, func() error { return o.Validate() })
	if code != exitOK || len(p.Cells) == 0 {
		return code
	}
	if o.pgURL != "" && (len(m.Postgres.Versions) > 0 || m.Postgres.Image != "") {
		fmt.Fprintf(stderr, "awacompat: --pg-url: %s starts its own servers (postgres.versions or postgres.image); an existing server has one major\n", m.File)
		return exitUsage
	}
	// On a terminal, a live status line replaces the info logs (-v brings them back); in CI
	// logs, every finished cell gets one plain line.
	tty := progress.IsTerminal(stderr)
	logLevel := slog.LevelInfo
	switch {
	case o.verbose:
		logLevel = slog.LevelDebug
	case tty:
		logLevel = slog.LevelWarn
	}
	log := newLogger(stderr, logLevel)
	cache, err := newCache(o.cacheDir, log)
	if err != nil {
		fmt.Fprintln(stderr, "awacompat:", err)
		return exitInfra
	}
	url := m.Postgres.URL
	if o.pgURL != "" {
		url = o.pgURL
	}
	engine, containersErr, err := containerSetup(ctx, m, p, log)
	if err != nil {
		fmt.Fprintln(stderr, "awacompat:", err)
		return exitInfra
	}
	var containers runner.ContainerArtifacts
	var servers runner.ContainerServers
	if engine != nil {
		containers, servers = engine, containerServers{engine}
		// Whatever the run left (it ended, failed or was interrupted) goes.
		defer func() {
			if err := engine.Close(context.WithoutCancel(ctx)); err != nil {
				log.Warn("cleanup: removing containers", "err", err)
			}
		}()
	}
	display := progress.New(stderr, len(p.Cells), tty && !o.verbose)
	repro := func(id string) string {
		cmd := "awacompat run " + m.File + " --only id=" + id
		if o.pgURL != "" {
			cmd += " --pg-url '<url>'"
		}
		return cmd
	}
	par, _ := o.parallelism() // Validate checked it
	res, err := runner.Run(ctx, runner.Config{
		Matrix: m, Plan: p, OutDir: o.out, Parallel: par, KeepFailed: o.keep, AllowUnexpectedPass: o.unexpected == "warn",
		Provisioner: runner.Postgres{URL: url, Image: m.Postgres.Image, Bin: pgbin.Config{Cache: cache.Root, Log: log}, Containers: servers, Log: log},
		Installer:   cache, Log: log, Containers: containers, ContainersErr: containersErr, ProbesDir: cache.ProbesDir,
		Suites: &suite.Cache{Root: cache.Root, Log: log},
		OnCell: display.Finished,
		Repro:  repro, Tool: toolVersion,
		TemplateCache: templateCacheDir(cache, o.rebuild),
	})
	display.Close()
	if res != nil {
		// The reports render from the record the runner wrote; a failure to write one is
		// logged, never allowed to change the run's verdict.
		if err := report.WriteAll(o.out, res); err != nil {
			log.Warn("writing reports", "err", err)
		}
		report.Table(stdout, res)
		fmt.Fprintf(stdout, "results: %s/%s\n", o.out, results.FileName)
	}
	switch {
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		fmt.Fprintln(stderr, "awacompat: interrupted; partial results written")
		return exitInterrupted
	case err != nil:
		fmt.Fprintln(stderr, "awacompat:", err)
		return exitInfra
	}
	return checkCode(res)
}

func cmdFetch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cacheDir string
	m, p, _, code := planCommand("fetch", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&cacheDir, "cache", "", "artifact cache `DIR`")
	}, func() error { return checkDirFlag("--cache", cacheDir) })
	if code != exitOK || len(p.Cells) == 0 {
		return code
	}
	log := newLogger(stderr, slog.LevelInfo)
	cache, err := newCache(cacheDir, log)
	if err != nil {
		fmt.Fprintln(stderr, "awacompat:", err)
		return exitInfra
	}
	failed := 0
	// The server binaries of every major the plan runs on (the installed package's, or the
	// portable build, downloaded and verified).
	for _, major := range p.Majors {
		if major == 0 || m.Postgres.Image != "" {
			continue
		}
		fmt.Fprintf(stdout, "PostgreSQL %d ... ", major)
		b, err := pgbin.Find(ctx, major, pgbin.Config{Cache: cache.Root, Log: log})
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAILED\n%v\n", err)
			continue
		}
		fmt.Fprintf(stdout, "ready (%s)\n", b.Origin)
	}
	specs := []pinned.Spec{runner.TargetCLISpec(p)}
	var suites []matrix.Artifact
	for _, a := range p.Artifacts {
		if a.Kind == "container" {
			continue // an image: its awa version is checked when a run starts
		}
		if a.Kind == matrix.KindSuite {
			suites = append(suites, a)
			continue
		}
		specs = append(specs, runner.SpecOf(a))
	}
	for _, rs := range runner.ReleaseSpecs(p) {
		specs = append(specs, rs.Spec)
	}
	for i, s := range specs {
		fmt.Fprintf(stdout, "[%d/%d] %s ... ", i+1, len(specs), s)
		in, err := cache.Install(ctx, s)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAILED\n%v\n", err)
			continue
		}
		state := "installed"
		if in.Reused {
			state = "cached"
		}
		fmt.Fprintf(stdout, "%s (%s)\n", state, in.Origin)
	}
	sc := &suite.Cache{Root: cache.Root, Log: log}
	for i, a := range suites {
		fmt.Fprintf(stdout, "[%d/%d] suite %s (%s) ... ", len(specs)+i+1, len(specs)+len(suites), a.Name, a.Suite.Command)
		b, err := sc.Build(ctx, a)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAILED\n%v\n", err)
			continue
		}
		state := "built"
		if b.Reused {
			state = "cached"
		}
		fmt.Fprintf(stdout, "%s (%s)\n", state, b.Origin)
	}
	if ctx.Err() != nil {
		return exitInterrupted
	}
	if failed > 0 {
		return exitInfra
	}
	return exitOK
}

// githubMatrix renders the plan as a GitHub Actions job matrix on one line: with shards > 0,
// {"include":[{"shard":"1/4"},...]} listing only non-empty shards; otherwise one entry per
// cell, {"include":[{"id":"...","only":"id=..."}]}.
func githubMatrix(m *matrix.Matrix, sel selection, p *matrix.Plan, shards int) (string, error) {
	type entry struct {
		Shard string `json:"shard,omitempty"`
		ID    string `json:"id,omitempty"`
		Only  string `json:"only,omitempty"`
		Cells int    `json:"cells,omitempty"`
	}
	var include []entry
	if shards < 0 {
		return "", fmt.Errorf("--shards must be positive")
	}
	if sel.shard != "" && shards > 0 {
		return "", fmt.Errorf("--shard and --shards do not go together")
	}
	if shards == 0 {
		for _, c := range p.Cells {
			include = append(include, entry{ID: c.ID, Only: "id=" + c.ID})
		}
	} else {
		for i := 1; i <= shards; i++ {
			opts := sel.options()
			opts.Shard = fmt.Sprintf("%d/%d", i, shards)
			sp, err := matrix.NewPlan(m, opts)
			if err != nil {
				return "", err
			}
			if len(sp.Cells) > 0 {
				include = append(include, entry{Shard: opts.Shard, Cells: len(sp.Cells)})
			}
		}
	}
	b, err := json.Marshal(map[string]any{"include": include})
	return string(b), err
}
