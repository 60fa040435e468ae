package pinned

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts cmd in its own process group and kills the whole group when its
// context is cancelled, so a pip or cargo child never outlives us.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
