#!/usr/bin/env bash
# HTTP load test of the filecache service with wrk, on loopback only.
#
# Builds cmd/filecache, starts a private redis-server and the service
# against a fresh PostgreSQL schema, creates FILES files through the API,
# then measures GET /v1/files/{id} (random ids) and a 90/10 GET/PATCH mix
# in several cache configurations, and prints a Markdown table:
#
#   redis+near      Redis with the in-process near cache (the default setup)
#   redis           Redis only, CACHE_NEAR_SIZE=0
#   always-miss     Redis only with CACHE_TTL_FILE=1ms: nearly every read
#                   misses and loads from PostgreSQL, through the cache's
#                   miss path (lease, load, store)
#   off             CACHE_DISABLED=true: no cache at all, every read goes to
#                   PostgreSQL (and sessions and rate limits are off)
#   in-process      no REDIS_URL: the in-process store (memstore). It is a
#                   cache too, not "no cache".
#
# Every /v1 request also touches the caller's session (a Redis GET and SET,
# or memstore), so no row is a pure cache read. GET /healthz, run once,
# shows the ceiling of the HTTP stack on the machine.
#
# Usage: bash scripts/bench-http.sh
# Environment (defaults in brackets):
#   PG_URL       PostgreSQL URL [postgres://postgres@127.0.0.1:5432/test?sslmode=disable]
#   FILES        files created [1000]
#   DURATION     measured time per run [10s]
#   WARMUP       unmeasured time before each run [3s]
#   THREADS      wrk threads [2]
#   CONNECTIONS  wrk connections [64]
#   MODES        configurations to run [redis+near redis always-miss off in-process]
#   FILECACHE_BIN a filecache binary to use instead of building cmd/filecache
#
# It stops everything it started (by PID) and drops its schema on exit.
set -euo pipefail

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
FILES=${FILES:-1000}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
MODES=${MODES:-redis+near redis always-miss off in-process}

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")
schema="bench_http_$$"
redis_pid=""
server_pid=""
schema_created=""

log() { echo "bench-http: $*" >&2; }
die() { log "$*"; exit 1; }

cleanup() {
	local rc=$?
	if [[ -n $server_pid ]]; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [[ -n $redis_pid ]]; then
		kill -TERM "$redis_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	if [[ -n $schema_created ]]; then
		psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 ||
			log "could not drop schema $schema"
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() {
	local cmd=$1 pkg=$2
	command -v "$cmd" >/dev/null && return
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		log "installing $pkg"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
	fi
	command -v "$cmd" >/dev/null || die "$cmd not found: install the Debian package $pkg"
}
need wrk wrk
need redis-server redis-server
need psql postgresql-client
need curl curl
[[ -n ${FILECACHE_BIN:-} ]] || command -v go >/dev/null || die "go not found"

# free_port prints a loopback TCP port nobody listens on.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port"
}

# with_param adds key=value to the query of URL $1.
with_param() {
	case $1 in
	*\?*) echo "$1&$2" ;;
	*) echo "$1?$2" ;;
	esac
}

bin=${FILECACHE_BIN:-}
if [[ -z $bin ]]; then
	log "building filecache"
	(cd "$root" && go build -o "$work/filecache" ./cmd/filecache)
	bin=$work/filecache
fi

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
	--daemonize yes --pidfile "$work/redis.pid" --dir "$work" --logfile "$work/redis.log"
for _ in $(seq 50); do [[ -s $work/redis.pid ]] && break; sleep 0.1; done
redis_pid=$(cat "$work/redis.pid")
log "redis-server on 127.0.0.1:$redis_port (pid $redis_pid)"

psql -q "$PG_URL" -c "CREATE SCHEMA $schema" >/dev/null
schema_created=1
db_url=$(with_param "$PG_URL" "search_path=$schema")
log "PostgreSQL schema $schema"

port=$(free_port)
base="http://127.0.0.1:$port"

# start_server MODE starts the service configured for MODE and waits until
# it is ready.
start_server() {
	local mode=$1
	local -a envs=(
		"LISTEN_ADDR=127.0.0.1:$port"
		"DATABASE_URL=$db_url"
		"RATE_LIMIT_PER_MINUTE=0"
		"TRUSTED_PROXIES=127.0.0.1"
		"LOG_LEVEL=error"
		"CACHE_PREFIX=bench-$mode:"
	)
	case $mode in
	redis+near) envs+=("REDIS_URL=redis://127.0.0.1:$redis_port/0" "CACHE_NEAR_SIZE=$((FILES * 10))") ;;
	redis) envs+=("REDIS_URL=redis://127.0.0.1:$redis_port/0" "CACHE_NEAR_SIZE=0") ;;
	always-miss) envs+=("REDIS_URL=redis://127.0.0.1:$redis_port/0" "CACHE_NEAR_SIZE=0" "CACHE_TTL_FILE=1ms" "CACHE_TTL_JITTER=0") ;;
	off) envs+=("REDIS_URL=redis://127.0.0.1:$redis_port/0" "CACHE_DISABLED=true") ;;
	in-process) ;;
	*) die "unknown mode $mode" ;;
	esac
	env -i PATH="$PATH" HOME="${HOME:-/tmp}" "${envs[@]}" "$bin" serve >"$work/server-$mode.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do
		if curl -fsS "$base/readyz" >/dev/null 2>&1; then
			return
		fi
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$work/server-$mode.log" >&2
	die "filecache ($mode) did not become ready"
}

stop_server() {
	kill -TERM "$server_pid"
	wait "$server_pid" || true
	server_pid=""
}

# The wrk scripts. Ids come from ids.txt; client IPs vary through
# X-Forwarded-For (127.0.0.1 is a trusted proxy), as many clients would.
cat >"$work/common.lua" <<'EOF'
ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
counter = 0
function setup(thread)
	counter = counter + 1
	thread:set("seed", counter)
end
function init(args)
	math.randomseed(seed * 7919)
end
function ip() return "198.51.100." .. math.random(1, 250) end
function get()
	local id = ids[math.random(#ids)]
	return wrk.format("GET", "/v1/files/" .. id, { ["X-Forwarded-For"] = ip() })
end
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("RESULT %d %d %d %d %d %d %d\n",
		summary.requests, summary.duration,
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		e.connect + e.read + e.write + e.timeout, e.status))
end
EOF
cat >"$work/get.lua" <<EOF
dofile("$work/common.lua")
request = get
EOF
cat >"$work/healthz.lua" <<EOF
dofile("$work/common.lua")
function request() return wrk.format("GET", "/healthz") end
EOF
cat >"$work/mix.lua" <<EOF
dofile("$work/common.lua")
function request()
	if math.random(100) <= 10 then
		local id = ids[math.random(#ids)]
		local body = string.format('{"name":"renamed-%d.pdf"}', math.random(1000000))
		return wrk.format("PATCH", "/v1/files/" .. id,
			{ ["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip() }, body)
	end
	return get()
end
EOF

# Create the files through the API with one curl process (keep-alive).
start_server redis+near
log "creating $FILES files"
{
	for i in $(seq "$FILES"); do
		printf 'url = "%s/v1/files"\n' "$base"
		printf 'header = "Content-Type: application/json"\n'
		printf 'data = "{\\"name\\":\\"report-%05d.pdf\\",\\"size\\":%d,\\"content_type\\":\\"application/pdf\\",\\"checksum\\":\\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\\",\\"tags\\":[\\"docs\\",\\"finance\\",\\"q3\\"]}"\n' "$i" $((1048576 + i))
		printf 'write-out = "\\n"\n'
		if [[ $i -lt $FILES ]]; then printf 'next\n'; fi
	done
} >"$work/create.curl"
curl -sS -K "$work/create.curl" >"$work/created.json"
grep -o '"id":"[0-9a-f-]\{36\}"' "$work/created.json" | cut -d'"' -f4 >"$work/ids.txt"
created=$(wc -l <"$work/ids.txt")
[[ $created -eq $FILES ]] || die "created $created files of $FILES: $(head -c 300 "$work/created.json")"
export IDS_FILE="$work/ids.txt"
stop_server

# run_wrk SCRIPT DURATION prints the RESULT line of one wrk run.
run_wrk() {
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2" --latency -s "$work/$1.lua" "$base" >"$work/wrk.out" 2>&1 ||
		{ cat "$work/wrk.out" >&2; die "wrk failed"; }
	grep '^RESULT' "$work/wrk.out"
}

# x_cache prints the X-Cache header of a third GET of one id, to show what
# a repeated read is served from in this mode (the first loads, the second
# fills the near cache).
x_cache() {
	local url="$base/v1/files/$(head -n1 "$IDS_FILE")"
	curl -fsS -o /dev/null "$url"
	curl -fsS -o /dev/null "$url"
	curl -fsS -o /dev/null -D - "$url" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" { print $2 }'
}

# redis_cmds prints the commands the private Redis has processed so far.
redis_cmds() {
	redis-cli -p "$redis_port" info stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" { print $2 }'
}

fmt_us() { awk -v us="$1" 'BEGIN { if (us >= 1000) printf "%.2fms", us / 1000; else printf "%dµs", us }'; }

rows=()
first=1
for mode in $MODES; do
	start_server "$mode"
	log "$mode: a repeated GET is served as X-Cache: $(x_cache)"
	workloads="get mix"
	if [[ $first -eq 1 ]]; then
		# The ceiling of the HTTP stack on this machine: no cache, no
		# session, no database.
		workloads="healthz $workloads"
		first=0
	fi
	for workload in $workloads; do
		log "$mode: $workload, warm-up $WARMUP, then $DURATION"
		run_wrk "$workload" "$WARMUP" >/dev/null
		c0=$(redis_cmds)
		read -r _ reqs dur p50 p90 p99 errs non2xx < <(run_wrk "$workload" "$DURATION")
		c1=$(redis_cmds)
		rps=$(awk -v r="$reqs" -v d="$dur" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
		cmds=-
		if [[ $mode != in-process ]]; then
			cmds=$(awk -v a="$c0" -v b="$c1" -v r="$reqs" 'BEGIN { printf "%.2f", (b - a - 1) / r }')
		fi
		case $workload in
		healthz) label='GET /healthz (ceiling)' ;;
		get) label='GET /v1/files/{id}' ;;
		mix) label='90% GET / 10% PATCH' ;;
		esac
		rows+=("| $label | $mode | $rps | $(fmt_us "$p50") | $(fmt_us "$p90") | $(fmt_us "$p99") | $cmds | $errs / $non2xx |")
		log "$mode $workload: $rps req/s, p50 $(fmt_us "$p50"), p99 $(fmt_us "$p99"), errors $errs, non-2xx $non2xx"
	done
	stop_server
done

echo
echo "| workload | cache | req/s | p50 | p90 | p99 | redis cmds/req | errors / non-2xx |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for w in 'GET /healthz' 'GET /v1' '90%'; do
	for r in "${rows[@]}"; do [[ $r == "| $w"* ]] && echo "$r"; done
done
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after $WARMUP warm-up), $FILES files, PostgreSQL, private Redis $(redis-server --version | grep -o 'v=[0-9.]*'), $(nproc) CPUs, $(go version | cut -d' ' -f3); server, Redis, PostgreSQL and wrk share the machine."
echo "redis cmds/req: the private Redis' total_commands_processed during the run over the requests (commands inside Lua scripts count)."
echo "GET /healthz touches no cache, session or database: the ceiling of the HTTP stack (server and wrk on the same CPUs)."
echo "Modes: redis+near = Redis and near cache; redis = CACHE_NEAR_SIZE=0; always-miss = CACHE_TTL_FILE=1ms (reads miss and load from PostgreSQL); off = CACHE_DISABLED=true (no cache); in-process = no REDIS_URL (memstore)."
