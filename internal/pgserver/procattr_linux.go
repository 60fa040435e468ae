package pgserver

import "syscall"

// setPdeathsig asks the kernel to SIGKILL the child when the OS thread that forked it dies.
// See spawn for how that thread is kept alive for exactly as long as the child runs.
func setPdeathsig(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
