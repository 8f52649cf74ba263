// Package testenv holds what tests need from their environment and how they
// wait for it: one place for the rules that every test follows.
//
// Requirements. A test that needs a service reads its address from an
// environment variable that scripts/test.sh sets:
//
//	url := testenv.Require(t, "TEST_REDIS_URL")
//
// When the variable is empty the test is skipped, or failed when
// REQUIRE_SERVICES=1 (as .ci/run sets), so a missing service never passes
// silently on CI. Unavailable does the same for a missing tool.
//
// Waiting. Tests await a condition or an event instead of sleeping:
//
//	testenv.Eventually(t, 5*time.Second, func() error {
//		if got := counter.Load(); got != 3 {
//			return fmt.Errorf("counter = %d, want 3", got)
//		}
//		return nil
//	})
//	ev := testenv.Await(t, 5*time.Second, events)
//
// Eventually polls with a backoff that starts at a millisecond, so a
// condition met soon is seen soon and a long wait costs little CPU on a
// busy machine; on timeout it fails the test with the condition's last
// error. Poll is the same without a test, for harnesses and commands.
// Timeouts bound a wait on a loaded machine: choose them generous (seconds),
// never as a measure of speed.
//
// The README. ConfigTable reads the configuration table of README.md, for
// the tests that hold it to the settings the code has.
//
// The functions taking a testing.TB must be called from the test's
// goroutine, as t.Fatal requires; Poll is safe for concurrent use.
package testenv
