package migrate

import (
	"fmt"

	"github.com/awacompat/awacompat/internal/version"
)

// UpgradeQueue holds the work enqueued before an upgrade; the upgrade_backlog scenario checks
// it survived.
const UpgradeQueue = "awacompat_upgrade"

// UpgradeArgs are the args of pre-upgrade job n, enqueued by release from.
func UpgradeArgs(from version.Version, n int) map[string]any {
	return map[string]any{"upgraded_from": from.String(), "n": n, "text": fmt.Sprintf("enqueued before the upgrade ✓ %d", n)}
}

// UpgradeJobs is how many jobs the old release enqueues before the upgrade.
const UpgradeJobs = 2
