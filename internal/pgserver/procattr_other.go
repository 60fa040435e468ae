//go:build unix && !linux

package pgserver

import "syscall"

// setPdeathsig is a no-op off Linux: there a killed parent can leave a postmaster running.
func setPdeathsig(*syscall.SysProcAttr) {}
