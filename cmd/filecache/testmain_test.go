package main

import (
	"os"
	"testing"
)

// runMainEnv, when set in the environment, makes the test binary run the
// filecache command itself, so that tests can start real service processes
// without building a second binary.
const runMainEnv = "FILECACHE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
