package pinned

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// lockFile takes an exclusive advisory lock on path (created if missing), waiting for it, and
// returns its release. If the lock file cannot be opened the cache still works, only without
// protection against other processes.
func lockFile(path string) func() {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return func() {}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return func() {}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}

// KeyLocks serialises work on one cache key: within this process (a mutex per key), and across
// processes by an exclusive flock on key+".lock", so separate awacompat processes sharing a
// cache (CI steps, parallel test binaries) never build the same thing at once: the second
// waits, then finds the first one's "ok" marker and reuses the result. The zero value is ready.
type KeyLocks struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// Lock takes key's locks, waiting for them, and returns their release.
func (k *KeyLocks) Lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*sync.Mutex{}
	}
	m, ok := k.locks[key]
	if !ok {
		m = &sync.Mutex{}
		k.locks[key] = m
	}
	k.mu.Unlock()
	m.Lock()
	unlockFile := lockFile(key + ".lock")
	return func() {
		unlockFile()
		m.Unlock()
	}
}
