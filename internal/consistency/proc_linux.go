package consistency

import "syscall"

// sysProcAttr makes the kernel kill a service process if the checker dies
// without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
