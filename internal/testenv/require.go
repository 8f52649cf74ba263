package testenv

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// EnvRequireServices, when "1", turns every skip for a missing service or
// tool into a test failure. .ci/run sets it.
const EnvRequireServices = "REQUIRE_SERVICES"

// ServicesRequired reports whether REQUIRE_SERVICES=1 is set, that is
// whether a missing service fails tests instead of skipping them.
func ServicesRequired() bool {
	return os.Getenv(EnvRequireServices) == "1"
}

// Require returns the value of the environment variable env. When it is
// empty the test is skipped, or failed if REQUIRE_SERVICES=1.
func Require(t testing.TB, env string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	Unavailable(t, "%s is not set; run the tests with `bash scripts/test.sh`, which starts the services and sets it", env)
	return ""
}

// RequireList is Require for a comma-separated list such as
// TEST_REDIS_CLUSTER_NODES; it trims spaces and drops empty items.
func RequireList(t testing.TB, env string) []string {
	t.Helper()
	var list []string
	for item := range strings.SplitSeq(Require(t, env), ",") {
		if item = strings.TrimSpace(item); item != "" {
			list = append(list, item)
		}
	}
	if len(list) == 0 {
		Unavailable(t, "%s lists no address; run the tests with `bash scripts/test.sh`", env)
	}
	return list
}

// Unavailable says that something the test needs is missing: it skips the
// test with the message, or fails it if REQUIRE_SERVICES=1.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if ServicesRequired() {
		t.Fatalf("%s=1: %s", EnvRequireServices, msg)
	}
	t.Skip(msg)
}
