package pgserver

import "github.com/awacompat/awacompat/internal/pgbin"

// Discover finds the installed server binaries (the highest major first); see pgbin.Discover.
func Discover() (binDir string, version int, err error) { return pgbin.Discover() }
