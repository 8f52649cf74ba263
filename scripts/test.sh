#!/usr/bin/env bash
# The project's test command. See --help.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bash scripts/test.sh [go test arguments]

Starts the services the tests need, then runs gofmt -l, go vet,
staticcheck, promtool check/test rules on deploy/prometheus and go test
-race -count=1 ./... (also go vet in bench/ when it has its own go.mod).
Exits with go test's status, or 1 if only a check failed.

Services, each used as is when its variable is already set:
  TEST_REDIS_URL              private redis-server on a free port
  TEST_REDIS_CLUSTER_NODES    3 masters + 3 replicas (scripts/redis-cluster.sh)
  TEST_REDIS_SENTINEL_ADDRS   master, replica, 3 sentinels (scripts/redis-sentinel.sh)
  TEST_REDIS_SENTINEL_MASTER  the sentinels' master name, "filecache"
  TEST_DATABASE_URL           postgres://postgres@127.0.0.1:5432/test?sslmode=disable
                              when it answers
Everything started lives in one temporary directory and is stopped on exit,
including on failure and Ctrl-C. redis-server and promtool (package
prometheus) are installed with apt-get when missing and running as root;
staticcheck with go install when missing.

REQUIRE_SERVICES=1 (as .ci/run sets) makes a missing service a failure;
otherwise the script warns and the tests that need it skip.

Arguments go to go test: flags are added after ./..., anything else
replaces it.
  bash scripts/test.sh -run TestStore -v
  bash scripts/test.sh ./redisstore/... -run Failover
EOF
}

if [[ ${1:-} == --help || ${1:-} == -help ]]; then
	usage
	exit 0
fi

# staticcheck 2026.2.2 is module version v0.8.2; it builds with Go 1.26.
STATICCHECK_VERSION=v0.8.2
PG_DEFAULT_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
TIMEOUT=30 # seconds, for the standalone server to answer

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export REQUIRE_SERVICES=${REQUIRE_SERVICES:-}

section() { printf '\n==> %s  [%ds]\n' "$*" "$SECONDS"; }
warn() { echo "test.sh: WARNING: $*" >&2; }

# unavailable MESSAGE: a service is missing; fatal with REQUIRE_SERVICES=1.
unavailable() {
	if [[ $REQUIRE_SERVICES == 1 ]]; then
		echo "test.sh: FAIL: REQUIRE_SERVICES=1 but $*" >&2
		exit 1
	fi
	warn "$*; the tests that need it will skip"
}

# free_port prints a free loopback TCP port.
free_port() {
	if command -v python3 >/dev/null 2>&1 && python3 2>/dev/null <<'PY'; then return 0; fi
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || break
	done
	echo "$p"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/filecache-test.XXXXXX")
standalone_pid=
jobs_pids=()
policy_rc=

cleanup() {
	local status=$? pid
	trap - EXIT INT TERM
	set +e
	[[ -n $policy_rc ]] && rm -f "$policy_rc"
	# Start scripts still running stop what they started on TERM.
	for pid in "${jobs_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	[[ -d $tmp/cluster ]] && bash scripts/redis-cluster.sh stop "$tmp/cluster"
	[[ -d $tmp/sentinel ]] && bash scripts/redis-sentinel.sh stop "$tmp/sentinel"
	if [[ -n $standalone_pid ]]; then
		kill -TERM "$standalone_pid" 2>/dev/null
		wait "$standalone_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

have_redis() { command -v redis-server >/dev/null && command -v redis-cli >/dev/null; }

section "Tools"
if ! have_redis && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
	echo "redis-server missing: apt-get install redis-server redis-tools"
	# Keep the package from starting its own redis-server on port 6379.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		policy_rc=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
		chmod +x "$policy_rc"
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get update -qq && apt-get install -y -qq redis-server redis-tools; } >"$tmp/apt.log" 2>&1; then
		tail -n 20 "$tmp/apt.log" >&2
	fi
	[[ -n $policy_rc ]] && rm -f "$policy_rc"
	policy_rc=
fi
if have_redis; then
	redis-server --version
else
	unavailable "redis-server or redis-cli is not installed (apt-get install redis-server redis-tools)"
fi

gobin=$(go env GOBIN)
[[ -n $gobin ]] || gobin=$(go env GOPATH | cut -d: -f1)/bin
staticcheck=
if command -v staticcheck >/dev/null; then
	staticcheck=staticcheck
elif [[ -x $gobin/staticcheck ]]; then
	staticcheck=$gobin/staticcheck
else
	echo "staticcheck missing: go install honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
	if go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"; then
		staticcheck=$gobin/staticcheck
	fi
fi
[[ -z $staticcheck ]] || "$staticcheck" -version

if ! command -v promtool >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
	echo "promtool missing: apt-get install prometheus"
	# Keep the package from starting its own Prometheus server.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		policy_rc=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
		chmod +x "$policy_rc"
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus; } >"$tmp/apt-prometheus.log" 2>&1; then
		tail -n 20 "$tmp/apt-prometheus.log" >&2
	fi
	[[ -n $policy_rc ]] && rm -f "$policy_rc"
	policy_rc=
fi
if command -v promtool >/dev/null; then
	promtool --version 2>&1 | head -n 1
else
	unavailable "promtool is not installed (apt-get install prometheus), so the alert rules cannot be checked"
fi

section "Services"
# Cluster and Sentinel take a few seconds each: start them in the background.
if [[ -z ${TEST_REDIS_CLUSTER_NODES:-} ]] && have_redis; then
	bash scripts/redis-cluster.sh start "$tmp/cluster" >"$tmp/cluster.env" 2>"$tmp/cluster.log" &
	cluster_job=$!
	jobs_pids+=("$cluster_job")
fi
if [[ -z ${TEST_REDIS_SENTINEL_ADDRS:-} ]] && have_redis; then
	bash scripts/redis-sentinel.sh start "$tmp/sentinel" >"$tmp/sentinel.env" 2>"$tmp/sentinel.log" &
	sentinel_job=$!
	jobs_pids+=("$sentinel_job")
fi

if [[ -z ${TEST_REDIS_URL:-} ]] && have_redis; then
	mkdir -p "$tmp/standalone"
	for attempt in 1 2 3; do
		port=$(free_port)
		redis-server --port "$port" --bind 127.0.0.1 --daemonize no \
			--dir "$tmp/standalone" --logfile "$tmp/standalone/redis.log" \
			--save "" --appendonly no </dev/null >/dev/null 2>&1 &
		standalone_pid=$!
		deadline=$((SECONDS + TIMEOUT))
		while kill -0 "$standalone_pid" 2>/dev/null && ((SECONDS < deadline)); do
			if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then
				export TEST_REDIS_URL="redis://127.0.0.1:$port/0"
				break 2
			fi
			sleep 0.05
		done
		kill -KILL "$standalone_pid" 2>/dev/null || true
		wait "$standalone_pid" 2>/dev/null || true
		standalone_pid=
		echo "standalone redis-server on port $port did not start (attempt $attempt)" >&2
		tail -n 5 "$tmp/standalone/redis.log" >&2 || true
	done
fi
[[ -n ${TEST_REDIS_URL:-} ]] || unavailable "no standalone Redis for TEST_REDIS_URL"

if [[ -n ${cluster_job:-} ]]; then
	if wait "$cluster_job"; then
		TEST_REDIS_CLUSTER_NODES=$(sed -n 's/^REDIS_CLUSTER_NODES=//p' "$tmp/cluster.env")
		export TEST_REDIS_CLUSTER_NODES
	else
		cat "$tmp/cluster.log" >&2
	fi
fi
[[ -n ${TEST_REDIS_CLUSTER_NODES:-} ]] || unavailable "no Redis Cluster for TEST_REDIS_CLUSTER_NODES"

if [[ -n ${sentinel_job:-} ]]; then
	if wait "$sentinel_job"; then
		TEST_REDIS_SENTINEL_ADDRS=$(sed -n 's/^REDIS_SENTINEL_ADDRS=//p' "$tmp/sentinel.env")
		TEST_REDIS_SENTINEL_MASTER=$(sed -n 's/^REDIS_SENTINEL_MASTER=//p' "$tmp/sentinel.env")
		export TEST_REDIS_SENTINEL_ADDRS TEST_REDIS_SENTINEL_MASTER
	else
		cat "$tmp/sentinel.log" >&2
	fi
fi
jobs_pids=()
if [[ -n ${TEST_REDIS_SENTINEL_ADDRS:-} ]]; then
	export TEST_REDIS_SENTINEL_MASTER=${TEST_REDIS_SENTINEL_MASTER:-filecache}
else
	unavailable "no Redis Sentinel for TEST_REDIS_SENTINEL_ADDRS"
fi

# pg_ok URL: PostgreSQL at URL accepts a query (or, without psql, a
# connection).
pg_ok() {
	if command -v psql >/dev/null; then
		PGCONNECT_TIMEOUT=5 psql "$1" -Atqc 'select 1' >/dev/null 2>&1
	elif command -v pg_isready >/dev/null; then
		pg_isready -q -t 5 -d "$1"
	else
		(exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
	fi
}
if [[ -z ${TEST_DATABASE_URL:-} ]]; then
	if pg_ok "$PG_DEFAULT_URL"; then
		export TEST_DATABASE_URL=$PG_DEFAULT_URL
	else
		unavailable "PostgreSQL does not answer at $PG_DEFAULT_URL; set TEST_DATABASE_URL"
	fi
fi

for v in TEST_REDIS_URL TEST_REDIS_CLUSTER_NODES TEST_REDIS_SENTINEL_ADDRS \
	TEST_REDIS_SENTINEL_MASTER TEST_DATABASE_URL REQUIRE_SERVICES; do
	echo "$v=${!v:-}"
done

failed=()

section "gofmt -l ."
unformatted=$(gofmt -l . 2>&1) || true
if [[ -n $unformatted ]]; then
	echo "$unformatted"
	echo "these files need gofmt -w" >&2
	failed+=("gofmt")
fi

section "go vet ./..."
go vet ./... || failed+=("go vet")

if [[ -f bench/go.mod ]]; then
	section "go vet ./... (bench)"
	(cd bench && go vet ./...) || failed+=("go vet (bench)")
fi

section "staticcheck ./..."
if [[ -n $staticcheck ]]; then
	"$staticcheck" ./... || failed+=("staticcheck")
else
	echo "staticcheck is not installed and go install failed" >&2
	failed+=("staticcheck")
fi

section "promtool check rules deploy/prometheus/alerts.yml"
if command -v promtool >/dev/null; then
	promtool check rules deploy/prometheus/alerts.yml || failed+=("promtool check rules")
	promtool test rules deploy/prometheus/alerts_test.yml || failed+=("promtool test rules")
else
	echo "promtool is not installed: the alert rules are not checked" >&2
fi

if [[ $# -gt 0 && $1 != -* ]]; then
	test_args=("$@")
else
	test_args=(./... "$@")
fi
section "go test -race -count=1 ${test_args[*]}"
status=0
go test -race -count=1 "${test_args[@]}" || status=$?

section "Summary"
if ((status != 0)); then
	failed+=("go test (exit $status)")
fi
if ((${#failed[@]} > 0)); then
	printf 'FAILED: %s\n' "${failed[@]}"
	((status != 0)) || status=1
else
	echo "all checks and tests passed"
fi
exit "$status"
