#!/usr/bin/env bash
# The project's test command. See --help.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bash scripts/test.sh [go test arguments]

Starts the services the tests need, runs gofmt -l, go vet, staticcheck and
promtool check/test rules on deploy/prometheus, then go test -race -count=1
./... (go vet also in bench/, which has its own go.mod). Prints the time of
each section, and at the end the failed, skipped and slowest tests. Exits
with go test's status, or 1 if only a check failed.

Services, each used as is when its variable is already set; the others are
started on free 127.0.0.1 ports by internal/redistest/cmd/redisenv, the Go
harness the tests use themselves:
  TEST_REDIS_URL                standalone redis-server
  TEST_REDIS_CLUSTER_NODES      Cluster of 3 masters + 3 replicas
  TEST_REDIS_SENTINEL_ADDRS     master, replica, 3 sentinels ...
  TEST_REDIS_SENTINEL_MASTER    ... monitoring it as "filecache"
  TEST_REDIS_TLS_URL            TLS redis-server, server verified only
  TEST_REDIS_MTLS_URL           TLS redis-server that requires a client
                                certificate (mutual TLS)
  TEST_REDIS_TLS_CLUSTER_NODES  TLS Cluster of 3 masters
  TEST_REDIS_TLS_CA_FILE, TEST_REDIS_TLS_CERT_FILE, TEST_REDIS_TLS_KEY_FILE
                                a throwaway CA and a client pair, made with
                                openssl (the servers' pair, server.crt and
                                server.key for 127.0.0.1 and localhost, lies
                                beside the CA file)
  TEST_DATABASE_URL             postgres://postgres@127.0.0.1:5432/test?sslmode=disable
                                when it answers
Everything started lives in one temporary directory and is stopped on exit,
by PID, including on failure and Ctrl-C.

Tools: redis-server (Debian redis-server, redis-tools) and promtool
(prometheus) are installed with apt-get when missing and running as root;
staticcheck, pinned, is installed once with go install into
${XDG_CACHE_HOME:-~/.cache}/filecache/tools/staticcheck-VERSION and reused.

REQUIRE_SERVICES=1 (as .ci/run sets) makes a missing service or tool a
failure; otherwise the script warns and the tests that need it skip.

Arguments go to go test: flags are added after ./..., anything else
replaces it; -v prints every test's output as it runs.
  bash scripts/test.sh -run TestStore -v
  bash scripts/test.sh ./cache/redisstore/... -run Failover
EOF
}

if [[ ${1:-} == --help || ${1:-} == -help || ${1:-} == -h ]]; then
	usage
	exit 0
fi

# staticcheck 2026.2.2 is module version v0.8.2; it builds with Go 1.26.
STATICCHECK_VERSION=v0.8.2
PG_DEFAULT_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export REQUIRE_SERVICES=${REQUIRE_SERVICES:-}
tools=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/filecache/tools

# Sections print their time when they end, and all together at the end.
section_name=
section_start=
section_times=()
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
end_section() {
	[[ -n $section_name ]] || return 0
	local ms=$(($(now_ms) - section_start))
	section_times+=("$(printf '%6d.%ds  %s' $((ms / 1000)) $((ms % 1000 / 100)) "$section_name")")
	printf -- '--- %s: %d.%ds\n' "$section_name" $((ms / 1000)) $((ms % 1000 / 100))
	section_name=
}
section() {
	end_section
	section_name=$*
	section_start=$(now_ms)
	printf '\n==> %s\n' "$*"
}
run_start=$(now_ms)

warn() { echo "test.sh: WARNING: $*" >&2; }

# unavailable MESSAGE: a service or tool is missing; fatal with
# REQUIRE_SERVICES=1.
unavailable() {
	if [[ $REQUIRE_SERVICES == 1 ]]; then
		echo "test.sh: FAIL: REQUIRE_SERVICES=1 but $*" >&2
		exit 1
	fi
	warn "$*; the tests that need it will skip"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/filecache-test.XXXXXX")
harness_pid=
install_pid=
policy_rc=

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	set +e
	[[ -n $policy_rc ]] && rm -f "$policy_rc"
	if [[ -n $install_pid ]]; then
		kill -TERM "$install_pid" 2>/dev/null
		wait "$install_pid" 2>/dev/null
	fi
	if [[ -n $harness_pid ]]; then
		# redisenv stops every server it started, then exits.
		kill -TERM "$harness_pid" 2>/dev/null
		wait "$harness_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# apt_install PACKAGE...: installs Debian packages when running as root,
# without letting them start their own daemons.
apt_install() {
	[[ $(id -u) == 0 ]] && command -v apt-get >/dev/null || return 0
	echo "apt-get install $*"
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		policy_rc=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
		chmod +x "$policy_rc"
	fi
	if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; } >"$tmp/apt.log" 2>&1; then
		tail -n 20 "$tmp/apt.log" >&2
	fi
	if [[ -n $policy_rc ]]; then
		rm -f "$policy_rc"
		policy_rc=
	fi
}

have_redis() { command -v redis-server >/dev/null && command -v redis-cli >/dev/null; }

section "Tools"
have_redis || apt_install redis-server redis-tools
if have_redis; then
	redis-server --version
else
	unavailable "redis-server or redis-cli is not installed (apt-get install redis-server redis-tools)"
fi
command -v promtool >/dev/null || apt_install prometheus
if command -v promtool >/dev/null; then
	promtool --version 2>&1 | head -n 1
else
	unavailable "promtool is not installed (apt-get install prometheus), so the alert rules cannot be checked"
fi
staticcheck=$tools/staticcheck-$STATICCHECK_VERSION/staticcheck
if [[ -x $staticcheck ]]; then
	"$staticcheck" -version
else
	# Built while go vet runs: the machine has idle CPU while either links.
	echo "go install honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION into ${staticcheck%/*} (in the background)"
	GOBIN=${staticcheck%/*} go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" \
		>"$tmp/staticcheck-install.log" 2>&1 &
	install_pid=$!
fi
# The harness and the report, from the build cache when nothing changed.
go build -o "$tmp/bin/" ./internal/redistest/cmd/redisenv ./internal/cmd/testreport
go version

section "Services (started in the background)"
# make_certs DIR: a throwaway CA, a server pair for 127.0.0.1 and localhost
# (also good as a client: cluster nodes connect to each other) and a client
# pair, with the names of redistest.TLSFilesIn.
make_certs() {
	local dir=$1 name
	mkdir -p "$dir"
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$dir/server.ext"
	printf 'extendedKeyUsage=clientAuth\n' >"$dir/client.ext"
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 2 \
		-subj "/CN=filecache test CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
	for name in server client; do
		openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			-subj "/CN=filecache test $name" -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
		openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -days 2 \
			-set_serial "0x$(openssl rand -hex 8)" -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
	done
}

harness_args=()
[[ -n ${TEST_REDIS_URL:-} ]] || harness_args+=(-standalone)
[[ -n ${TEST_REDIS_CLUSTER_NODES:-} ]] || harness_args+=(-cluster)
[[ -n ${TEST_REDIS_SENTINEL_ADDRS:-} ]] || harness_args+=(-sentinel)
tls_args=()
[[ -n ${TEST_REDIS_TLS_URL:-} ]] || tls_args+=(-tls)
[[ -n ${TEST_REDIS_MTLS_URL:-} ]] || tls_args+=(-mtls)
[[ -n ${TEST_REDIS_TLS_CLUSTER_NODES:-} ]] || tls_args+=(-tls-cluster)
if ((${#tls_args[@]} > 0)) && have_redis; then
	if ! command -v openssl >/dev/null; then
		unavailable "openssl is not installed, so there is no test CA for the TLS servers"
	elif make_certs "$tmp/tls"; then
		harness_args+=("${tls_args[@]}" -tls-dir "$tmp/tls")
	else
		unavailable "openssl could not make the test certificates"
	fi
fi

# start_harness ARGS...: starts redisenv as a coprocess; its standard input
# is our pipe, so it also stops when this script dies. It prints the
# variables and closes its output once everything answers.
start_harness() {
	coproc HARNESS { exec "$tmp/bin/redisenv" -dir "$tmp/redis" "$@" 2>>"$tmp/redisenv.log"; }
	harness_pid=$HARNESS_PID
	exec {harness_out}<&"${HARNESS[0]}"
}
if ((${#harness_args[@]} > 0)) && have_redis; then
	mkdir -p "$tmp/redis"
	echo "redisenv ${harness_args[*]}"
	start_harness "${harness_args[@]}"
fi

# await_harness: reads the variables; a failed start is retried without the
# TLS servers, so a redis-server built without TLS keeps the other tests.
await_harness() {
	local line status got=
	while IFS= read -r line <&"$harness_out"; do
		if [[ $line == TEST_*=* ]]; then
			export "${line?}"
			echo "$line"
			got=1
		fi
	done
	exec {harness_out}<&-
	# redisenv prints the variables only once everything answers.
	[[ -z $got ]] || return 0
	status=0
	wait "$harness_pid" || status=$?
	harness_pid=
	cat "$tmp/redisenv.log" >&2
	warn "redisenv ${harness_args[*]} exited with status $status"
	if [[ " ${harness_args[*]} " == *" -tls-dir "* ]]; then
		unavailable "the TLS servers did not start (a redis-server without TLS?)"
		local args=() a skip=
		for a in "${harness_args[@]}"; do
			case $skip$a in
			-tls | -mtls | -tls-cluster) ;;
			-tls-dir) skip=1 ;;
			1*) skip= ;;
			*) args+=("$a") ;;
			esac
		done
		harness_args=("${args[@]}")
		if ((${#harness_args[@]} > 0)); then
			echo "redisenv ${harness_args[*]}"
			start_harness "${harness_args[@]}"
			await_harness
		fi
	fi
}

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

failed=()

section "gofmt -l ."
unformatted=$(gofmt -l . 2>&1) || true
if [[ -n $unformatted ]]; then
	echo "$unformatted"
	echo "these files need gofmt -w" >&2
	failed+=("gofmt")
fi

# go vet, staticcheck and go test share one build: every package compiled
# once, with -race, into the build cache. (go vet needs the compiled
# dependencies, and staticcheck reads their export data through go list.)
race_flags="$(go env GOFLAGS) -race"

section "go vet -race ./..."
go vet -race ./... || failed+=("go vet")

if [[ -f bench/go.mod ]]; then
	section "go vet -race ./... (bench)"
	(cd bench && go vet -race ./...) || failed+=("go vet (bench)")
fi

section "staticcheck ./..."
if [[ -n $install_pid ]]; then
	wait "$install_pid" || cat "$tmp/staticcheck-install.log" >&2
	install_pid=
	[[ -x $staticcheck ]] && "$staticcheck" -version
fi
if [[ -x $staticcheck ]]; then
	GOFLAGS=$race_flags "$staticcheck" ./... || failed+=("staticcheck")
else
	echo "staticcheck is not installed and go install failed" >&2
	failed+=("staticcheck")
fi

section "promtool check rules, test rules"
if command -v promtool >/dev/null; then
	promtool check rules deploy/prometheus/alerts.yml || failed+=("promtool check rules")
	promtool test rules deploy/prometheus/alerts_test.yml || failed+=("promtool test rules")
else
	echo "promtool is not installed: the alert rules are not checked" >&2
fi

section "Services (awaited)"
[[ -z $harness_pid ]] || await_harness
[[ -n ${TEST_REDIS_URL:-} ]] || unavailable "no standalone Redis for TEST_REDIS_URL"
[[ -n ${TEST_REDIS_CLUSTER_NODES:-} ]] || unavailable "no Redis Cluster for TEST_REDIS_CLUSTER_NODES"
[[ -n ${TEST_REDIS_SENTINEL_ADDRS:-} ]] || unavailable "no Redis Sentinel for TEST_REDIS_SENTINEL_ADDRS"
export TEST_REDIS_SENTINEL_MASTER=${TEST_REDIS_SENTINEL_MASTER:-filecache}
[[ -n ${TEST_REDIS_TLS_URL:-} && -n ${TEST_REDIS_MTLS_URL:-} && -n ${TEST_REDIS_TLS_CLUSTER_NODES:-} ]] ||
	unavailable "no TLS Redis for TEST_REDIS_TLS_URL, TEST_REDIS_MTLS_URL, TEST_REDIS_TLS_CLUSTER_NODES"
echo "TEST_DATABASE_URL=${TEST_DATABASE_URL:-}"
echo "REQUIRE_SERVICES=$REQUIRE_SERVICES"

report_args=()
for a in "$@"; do
	[[ $a == -v || $a == -v=true || $a == -test.v ]] && report_args=(-v)
done
if [[ $# -gt 0 && $1 != -* ]]; then
	test_args=("$@")
else
	test_args=(./... "$@")
fi
# go vet ran above: no second vet inside go test.
section "go test -race -count=1 ${test_args[*]}"
set +e
go test -json -race -vet=off -count=1 "${test_args[@]}" | "$tmp/bin/testreport" "${report_args[@]}"
pipe=("${PIPESTATUS[@]}")
set -e
# go test's status; the report's when go test passed but the report could
# not read its output.
status=${pipe[0]}
((status != 0)) || status=${pipe[1]}

end_section
echo
echo "Section times:"
printf '%s\n' "${section_times[@]}"
total=$(($(now_ms) - run_start))
printf '%6d.%ds  total\n' $((total / 1000)) $((total % 1000 / 100))
uptime | sed 's/^ */load: /'

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
