package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/probes"
)

// UpgradeQueue holds the work enqueued before an upgrade; the upgrade_backlog scenario checks
// it survived.
const UpgradeQueue = "awacompat_upgrade"

// UpgradeKind is the job kind of that work (the probes' kind).
const UpgradeKind = "awacompat_probe"

// UpgradeArgs are the args of pre-upgrade job n, enqueued by release from.
func UpgradeArgs(from string, n int) map[string]any {
	return map[string]any{"upgraded_from": from, "n": n, "text": fmt.Sprintf("enqueued before the upgrade ✓ %d", n)}
}

// UpgradeJobs is how many jobs the old release enqueues before the upgrade.
const UpgradeJobs = 2

// Upgrade describes the upgraded-from schema path: migrate with an old release, enqueue work
// with it, then migrate with the target.
type Upgrade struct {
	// FromArgv runs the old release's probe; FromVersion names it.
	FromArgv    []string
	FromVersion string
	// TargetArgv runs a probe of the target release, used as the workers of the staged
	// transition to queue storage.
	TargetArgv []string
	// Dir receives the probes' logs.
	Dir string
}

// UpgradeResult records what the old release left behind.
type UpgradeResult struct {
	// FromSchemaVersion is the schema version the old release's migrate reached.
	FromSchemaVersion int
}

// Upgraded migrates an empty database with the old release (through its probe's migrate op,
// the SDK's own migrator), enqueues UpgradeJobs jobs with it, then migrates with the target.
func Upgraded(ctx context.Context, target CLI, url string, u Upgrade) (UpgradeResult, error) {
	var res UpgradeResult
	steps := []probes.Step{{Op: "migrate", Ref: "migrate"}}
	for n := 1; n <= UpgradeJobs; n++ {
		steps = append(steps, probes.Step{Op: "enqueue", Ref: fmt.Sprintf("u%d", n), Queue: UpgradeQueue, Args: UpgradeArgs(u.FromVersion, n)})
	}
	evs, err := probes.Run(ctx, u.FromArgv, probes.Spec{DatabaseURL: url, Kind: UpgradeKind, Steps: steps}, u.Dir, "upgrade-from-"+u.FromVersion)
	if err != nil {
		return res, fmt.Errorf("prepare with awa %s: %w", u.FromVersion, err)
	}
	for _, e := range evs {
		if e.Event == "error" {
			return res, fmt.Errorf("prepare with awa %s: %s failed: %s: %s", u.FromVersion, e.Op, e.Class, e.Message)
		}
	}
	o, err := oracle.Open(ctx, url)
	if err != nil {
		return res, err
	}
	defer o.Close(context.WithoutCancel(ctx))
	if res.FromSchemaVersion, err = o.SchemaVersion(ctx); err != nil {
		return res, err
	}
	if err := target.Migrate(ctx, url); err != nil {
		return res, err
	}
	return res, nil
}

// StagedQueueStorage moves a canonical database that holds work to queue storage the way
// awa's upgrade guide says (docs/upgrade-0.5-to-0.6.md): `awa storage prepare --engine
// queue_storage`, a queue_storage_target worker of the target release, `awa storage
// enter-mixed-transition`, a canonical_drain worker to drain the canonical backlog, then
// `awa storage finalize --wait`. The backlog is therefore processed during the transition.
func StagedQueueStorage(ctx context.Context, target CLI, url string, u Upgrade) (Result, error) {
	if _, err := target.Run(ctx, url, "storage", "prepare", "--engine", "queue_storage"); err != nil {
		return Result{}, fmt.Errorf("staged transition: %w", err)
	}
	stopQS, err := startWorker(ctx, u, url, "queue_storage_target", "awacompat_transition")
	if err != nil {
		return Result{}, fmt.Errorf("staged transition: %w", err)
	}
	defer stopQS()
	if _, err := target.Run(ctx, url, "storage", "enter-mixed-transition"); err != nil {
		return Result{}, fmt.Errorf("staged transition: %w", err)
	}
	stopDrain, err := startWorker(ctx, u, url, "canonical_drain", UpgradeQueue)
	if err != nil {
		return Result{}, fmt.Errorf("staged transition: %w", err)
	}
	defer stopDrain()
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if _, err := target.Run(wctx, url, "storage", "finalize", "--wait"); err != nil {
		return Result{}, fmt.Errorf("staged transition: %w", err)
	}
	stopDrain()
	stopQS()
	return Verify(ctx, target, url, "queue_storage")
}

// startWorker starts a target-release worker in the given transition role and waits until it
// is ready; the returned function stops it (idempotent).
func startWorker(ctx context.Context, u Upgrade, url, role, queue string) (func(), error) {
	name := "transition-" + role
	p, err := probes.Start(ctx, u.TargetArgv, probes.Spec{DatabaseURL: url, Kind: UpgradeKind, Steps: []probes.Step{{
		Op: "work", Queue: queue, MaxWorkers: 2, Behavior: "complete", StorageRole: role, TimeoutMS: 180_000,
	}}}, u.Dir, name)
	if err != nil {
		return nil, err
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		p.Stop()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		p.Wait(wctx)
	}
	if _, err := p.WaitReady(ctx); err != nil {
		stop()
		return nil, fmt.Errorf("%s worker: %w (see %s)", role, err, u.Dir)
	}
	return stop, nil
}
