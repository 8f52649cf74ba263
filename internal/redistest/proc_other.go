//go:build !linux

package redistest

import "syscall"

// sysProcAttr returns nil: only Linux can kill a child when its parent
// dies, so elsewhere a crashed test binary may leave servers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return nil
}
