package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/proc"
	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/scenario"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/migrate"
	"github.com/awacompat/awacompat/probes"
)

// templateParallel bounds the templates built at once: each runs awa's migrations, and an
// upgraded path's staged transition runs workers too.
const templateParallel = 2

// templateFormat is part of every template cache key: bump it when what a template holds
// changes without its steps changing (how awacompat builds or records one).
const templateFormat = "awacompat-template-1"

// buildTemplates builds every template of the plan, templateParallel at a time, and records
// them in plan order. A template that cannot be built fails its own cells (each gets the
// failing step's command and output, or awa's refusal); the others still run. Only a failed
// target.schema_version assertion stops the run: the target is not what the matrix says.
func (r *run) buildTemplates(ctx context.Context) error {
	ts := r.cfg.Plan.Templates
	tpls := make([]*template, len(ts))
	took := make([]time.Duration, len(ts))
	sem := make(chan struct{}, templateParallel)
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			tpls[i] = r.build(ctx, i, t)
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	var assertion error
	for i, t := range ts {
		tpl := tpls[i]
		tpl.def = t
		r.templates[t.Name()] = tpl
		rec := templateRecord(t, tpl, took[i])
		r.res.Templates = append(r.res.Templates, rec)
		if tpl.err != nil {
			r.cfg.Log.Warn("template not built", "template", t.Name(), "outcome", rec.Outcome, "err", tpl.err)
			continue
		}
		r.cfg.Log.Info("template ready", "template", t.Name(), "schema_version", tpl.res.SchemaVersion, "engine", tpl.res.Engine.String(),
			"restored", tpl.restored, "took", took[i].Round(time.Millisecond))
		if len(t.Pending) > 0 {
			continue // the old release's schema: the target migrates in the cells
		}
		r.res.Target.SchemaVersion = tpl.res.SchemaVersion
		if want := r.cfg.Plan.Target.SchemaVersion; want != 0 && tpl.res.SchemaVersion != want && assertion == nil {
			assertion = &InfraError{fmt.Errorf("awa %s migrated to schema version %d, but %s asserts target.schema_version %d",
				r.cfg.Plan.Target.Awa, tpl.res.SchemaVersion, r.cfg.Matrix.File, want)}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return assertion
}

func templateRecord(t matrix.Template, tpl *template, took time.Duration) results.Template {
	rec := results.Template{
		Name: t.Name(), Postgres: t.Postgres, SchemaPath: t.SchemaPath.Name(), Engine: string(t.Engine), DurationMS: took.Milliseconds(),
		SchemaVersion: tpl.res.SchemaVersion, EngineState: tpl.res.Engine.String(), RingAuthority: tpl.res.Engine.Authority,
		Outcome: "built", Restored: tpl.restored,
	}
	for _, s := range tpl.res.Steps {
		rec.Steps = append(rec.Steps, results.TemplateStep{
			Op: string(s.Op), By: s.By, DurationMS: s.DurationMS,
			SchemaVersion: s.After.SchemaVersion, EngineState: s.After.Engine.String(), RingAuthority: s.After.Engine.Authority,
		})
	}
	var refused *migrate.RefusedError
	switch {
	case errors.As(tpl.err, &refused):
		rec.Outcome, rec.Error = "refused", redact.Printable(tpl.err.Error())
	case tpl.err != nil:
		rec.Outcome, rec.Error = "error", redact.Printable(tpl.err.Error())
	}
	return rec
}

// buildTemplate creates the template database and fills it: restored from the template cache
// when an earlier run built the same template (and it verifies), else by carrying out the
// template's steps, after which the cache keeps a copy.
func (r *run) buildTemplate(ctx context.Context, i int, t matrix.Template) *template {
	tpl := &template{}
	if tpl.err = r.stepsInstalled(t); tpl.err != nil {
		return tpl
	}
	name := fmt.Sprintf("tpl%d", i+1)
	sv := r.server(t.Postgres)
	db, err := sv.dbs.create(ctx, name, "")
	if err != nil {
		tpl.err = err
		return tpl
	}
	tpl.db = db
	cache := r.templateCache(sv)
	key, cacheable := r.templateKey(t, sv)
	if cacheable && cache != nil {
		res, err := cache.restore(ctx, key, sv.srv.URL(db), t, r.releases[matrix.TargetRelease].CLI)
		if err == nil {
			tpl.res, tpl.restored = res, true
			return tpl
		}
		if !errors.Is(err, os.ErrNotExist) {
			r.cfg.Log.Warn("template cache entry unusable; building the template", "template", t.Name(), "err", err)
			// The half-restored database goes; the build starts from an empty one.
			if derr := sv.dbs.drop(context.WithoutCancel(ctx), db); derr != nil {
				tpl.err = derr
				return tpl
			}
			if tpl.db, err = sv.dbs.create(ctx, name+"b", ""); err != nil {
				tpl.err = err
				return tpl
			}
		}
	}
	tpl.res, tpl.err = migrate.Build{
		Template: t, Releases: r.releases, URL: sv.srv.URL(tpl.db), Dir: filepath.Join(r.cfg.OutDir, "templates", t.Name()),
	}.Run(ctx)
	if tpl.err == nil && cacheable && cache != nil {
		if err := cache.save(ctx, key, sv.srv.URL(tpl.db), tpl.res); err != nil {
			r.cfg.Log.Warn("template cache: could not keep the template", "template", t.Name(), "err", err)
		}
	}
	return tpl
}

// stepsInstalled says which install a template step needs failed, if one did. (The Rust
// builds no template needs may still be installing: installAll.)
func (r *run) stepsInstalled(t matrix.Template) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range t.Steps {
		if err, bad := r.releaseErr[s.By]; bad {
			return fmt.Errorf("step %s needs %w", s.Op, err)
		}
		if err, bad := r.failed[s.By]; bad {
			return fmt.Errorf("step %s needs artifact %s, which did not install: %w", s.Op, s.By, err)
		}
	}
	return nil
}

// templateCache is the cache of this run's server, or nil when there is none (no folder, no
// pg_dump for the server).
func (r *run) templateCache(sv *server) *templateCache {
	if r.cfg.TemplateCache == "" || sv == nil || sv.srv.BinDir() == "" {
		return nil
	}
	return &templateCache{dir: r.cfg.TemplateCache, binDir: sv.srv.BinDir()}
}

// templateKey names what a template is made of: its steps, the exact builds of every release
// that runs them (origin and checksum), the payload the old release enqueues, and the server
// release. ok is false when a build has no checksum to name it by.
func (r *run) templateKey(t matrix.Template, sv *server) (string, bool) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00target %s %s\x00", templateFormat, sv.version, t.Name(), r.res.Target.Origin, r.res.Target.Checksum)
	if r.res.Target.Checksum == "" || sv.version == "" {
		return "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range t.Steps {
		fmt.Fprintf(h, "step %s by %s\x00", s.Op, s.By)
		if s.By == matrix.TargetRelease {
			continue
		}
		names := []string{s.By}
		if s.Op == matrix.OpStagedTransition {
			names = append(names, s.By+"-cli")
		}
		for _, n := range names {
			a, ok := r.records[n]
			if !ok || a.Checksum == "" {
				return "", false
			}
			fmt.Fprintf(h, "%s %s %s\x00", n, a.Origin, a.Checksum)
		}
		if s.Op == matrix.OpOldRelease {
			for n := 1; n <= migrate.UpgradeJobs; n++ {
				b, _ := json.Marshal(migrate.UpgradeArgs(r.cfg.Matrix.Artifacts[s.By].Version, n))
				h.Write(b)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:24], true
}

// templateCache keeps built templates across runs as pg_dump archives with the state they were
// verified in, one pair of files per key: <key>.dump and <key>.json.
type templateCache struct {
	dir    string
	binDir string
}

// restore fills the empty database at dbURL from the entry key, then verifies it as a freshly
// built template would be: the schema version and engine state read back must equal what was
// recorded, the engine must be the one the template asks for, and the target's `awa storage
// status` must agree. os.ErrNotExist: no entry.
func (c *templateCache) restore(ctx context.Context, key, dbURL string, t matrix.Template, target migrate.CLI) (migrate.Result, error) {
	var res migrate.Result
	b, err := os.ReadFile(filepath.Join(c.dir, key+".json"))
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, fmt.Errorf("template cache %s: %w", key, err)
	}
	if err := c.pgTool(ctx, "pg_restore", dbURL, "--no-owner", "--exit-on-error", filepath.Join(c.dir, key+".dump")); err != nil {
		return res, err
	}
	o, err := oracle.Open(ctx, dbURL)
	if err != nil {
		return res, err
	}
	defer o.Close(context.WithoutCancel(ctx))
	v, err := o.SchemaVersion(ctx)
	if err != nil {
		return res, err
	}
	e, err := o.Engine(ctx)
	if err != nil {
		return res, err
	}
	if v != res.SchemaVersion || e != res.Engine {
		return res, fmt.Errorf("restored template reads v%d %s, it was built at v%d %s", v, e, res.SchemaVersion, res.Engine)
	}
	if err := migrate.Verify(ctx, t, res.State, target, dbURL); err != nil {
		return res, fmt.Errorf("restored template: %w", err)
	}
	return res, nil
}

// save keeps the template at dbURL under key (written under temporary names, then renamed, so
// a reader never sees half an entry).
func (c *templateCache) save(ctx context.Context, key, dbURL string, res migrate.Result) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(c.dir, fmt.Sprintf(".%s.%d", key, os.Getpid()))
	defer os.Remove(tmp + ".dump")
	defer os.Remove(tmp + ".json")
	if err := c.pgTool(ctx, "pg_dump", dbURL, "--format=custom", "--file="+tmp+".dump"); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(tmp+".json", b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp+".dump", filepath.Join(c.dir, key+".dump")); err != nil {
		return err
	}
	return os.Rename(tmp+".json", filepath.Join(c.dir, key+".json"))
}

// pgToolDeadline bounds one pg_dump or pg_restore of a template (about a second each).
const pgToolDeadline = 5 * time.Minute

// pgTool runs pg_dump or pg_restore on the database at dbURL. The password travels in
// PGPASSWORD, never on the command line.
func (c *templateCache) pgTool(ctx context.Context, tool, dbURL string, args ...string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return fmt.Errorf("%s: %w", tool, err)
	}
	env := os.Environ()
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
			u.User = url.User(u.User.Username())
		}
	}
	ctx, cancel := context.WithTimeout(ctx, pgToolDeadline)
	defer cancel()
	cmd := proc.Command(ctx, filepath.Join(c.binDir, tool), append([]string{"--dbname=" + u.String()}, args...)...)
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return proc.Failed(ctx, pgToolDeadline, append([]string{tool}, args...), err, redact.Printable(proc.Tail(out.String(), 10)))
	}
	return nil
}

// templateOutcome is the verdict of a cell whose template was not built: awa refusing the
// target's migrate on this schema path is the path's answer, so every cell of it is refused
// (a hazard when the refused migrate wrote something); any other failure is an error with the
// failing step's command and output. The scenario itself did not run.
func templateOutcome(c matrix.Cell, tpl *template) scenario.Outcome {

	var refused *migrate.RefusedError
	if !errors.As(tpl.err, &refused) {
		return scenario.Outcome{Verdict: matrix.Error, Detail: fmt.Sprintf("template %s could not be built, so the scenario did not run: %v", c.TemplateName(), tpl.err)}
	}
	out := scenario.Outcome{
		Error: &results.ErrorInfo{Op: string(probes.OpMigrate), Class: "CLI", Message: refused.Message},
	}
	for _, s := range tpl.res.Steps {
		out.Findings = append(out.Findings, fmt.Sprintf("template step %s by %s: schema v%d, %s", s.Op, s.By, s.After.SchemaVersion, s.After.Engine))
	}
	what := "the scenario did not run"
	if c.Scenario == "target_migrate" {
		what = "the schema path ends here"
	}
	if len(refused.Changes) > 0 {
		out.Verdict = matrix.Hazard
		out.Findings = append(out.Findings, refused.Changes...)
		out.Detail = fmt.Sprintf("%s, and still wrote: %s; %s", refused.Cmd, strings.Join(refused.Changes, "; "), what)
		return out
	}
	out.Verdict = matrix.Refused
	out.Findings = append(out.Findings, "the oracle read awa.schema_version, the storage transition state and the ring authority before and after the refused migrate: unchanged")
	out.Detail = fmt.Sprintf("awa refused the target's migrate on this schema path before writing anything (%s): %s; %s", refused.Cmd, refused.Message, what)
	return out
}
