package redistest

import "syscall"

// sysProcAttr makes the kernel kill a server if the test binary dies
// without running its cleanups, e.g. on a panic or a -timeout. (Strictly,
// when the OS thread that started it exits, which the Go runtime does only
// for goroutines that exit while locked to their thread.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
