#!/usr/bin/env bash
# HTTP load test of the filecache service with wrk, on loopback only.
#
# Builds cmd/filecache, starts a private redis-server and the service
# against a fresh PostgreSQL schema, creates FILES files through the API,
# then measures GET /v1/files/{id} (random ids) and a 90/10 GET/PATCH mix
# in several configurations, and prints a Markdown table:
#
#   defaults        what `filecache serve` runs with only REDIS_URL set (and
#                   TRUSTED_PROXIES=127.0.0.1, so that X-Forwarded-For names
#                   the clients): rate limiting on at 600/min per client,
#                   info logs (to a file), the default near cache
#   redis+near      tuned: Redis with a near cache of 10 entries per file,
#                   rate limiting off, error logs only
#   redis+near-noaudit  redis+near with CACHE_AUDIT_RATE=0: the consistency
#                   auditor off (every other row runs it at its default,
#                   1 database read a second), to measure its cost
#   redis           tuned, and CACHE_NEAR_SIZE=0
#   always-miss     Redis only with CACHE_TTL_FILE=1ms: nearly every read
#                   misses and loads from PostgreSQL, through the cache's
#                   miss path (lease, load, store)
#   off             CACHE_DISABLED=true: no cache at all, every read goes to
#                   PostgreSQL (and sessions and rate limits are off)
#   in-process      no REDIS_URL: the in-process store (memstore). It is a
#                   cache too, not "no cache".
#
# The rows after "defaults" run with RATE_LIMIT_PER_MINUTE=0 and
# LOG_LEVEL=error. Every /v1 request also counts in the caller's session
# (written behind: a Redis GET and SET per client and flush, about a
# second), so no row is a pure cache read. GET /healthz, run once a round
# with the first mode of MODES, shows the ceiling of the HTTP stack on the
# machine.
#
# Clients: every request names its client in X-Forwarded-For, in turn from
# a pool of addresses in 10.0.0.0/8 that no earlier run has used. The pool
# is sized from the rate of the run's warm-up so that each client makes
# about CLIENT_REQUESTS requests in the run, below the default limit of 600
# per minute: the defaults row measures the limiter's cost, not its 429s
# (the errors / non-2xx column would show them).
#
# Usage: bash scripts/bench-http.sh
# Environment (defaults in brackets):
#   PG_URL       PostgreSQL URL [postgres://postgres@127.0.0.1:5432/test?sslmode=disable]
#   FILES        files created [1000]
#   DURATION     measured time per run [10s]
#   WARMUP       unmeasured time before each run [3s]
#   THREADS      wrk threads [2]
#   CONNECTIONS  wrk connections [64]
#   MODES        configurations to run [defaults redis+near redis always-miss off in-process]
#   CLIENT_REQUESTS requests per client address and run, at the warm-up's
#                rate [300: half the default limit, since a measured run
#                can be faster than its warm-up (the first one fills the
#                near cache), and a client past 600 would get 429s]
#   ROUNDS       times every mode runs, in turn and in reverse order every
#                other round (defaults, off, off, defaults, ...); each row
#                then shows the run of median req/s
#                (of an even count, the lower middle one), and the ratios
#                are printed per round and as medians: the cached GET over
#                /healthz when defaults is the first mode, the 90/10 mix
#                of defaults over off when both run [1]
#   FILECACHE_BIN a filecache binary to use instead of building cmd/filecache
#
# Examples:
#   bash scripts/bench-http.sh                          # every mode, ~3 min
#   MODES="defaults off" ROUNDS=3 bash scripts/bench-http.sh   # the issue's ratios
#   DURATION=5s WARMUP=2s MODES=defaults bash scripts/bench-http.sh
#
# It stops everything it started (by PID) and drops its schema on exit.
set -euo pipefail

if [[ ${1:-} == --help || ${1:-} == -h || ${1:-} == -help ]]; then
	# The comment block above, without its '# ' and the shebang.
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
	exit 0
fi
if [[ $# -gt 0 ]]; then
	echo "bench-http: no arguments (configuration is by environment); see --help" >&2
	exit 2
fi

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
FILES=${FILES:-1000}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
MODES=${MODES:-defaults redis+near redis always-miss off in-process}
CLIENT_REQUESTS=${CLIENT_REQUESTS:-300}
ROUNDS=${ROUNDS:-1}

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-http.XXXXXX")
schema="bench_http_$$"
redis_pid=""
server_pid=""
schema_created=""

log() { echo "bench-http: $*" >&2; }
die() { log "$*"; exit 1; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not $ROUNDS"

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
		"TRUSTED_PROXIES=127.0.0.1"
		"CACHE_PREFIX=bench-$mode:"
	)
	if [[ $mode != defaults ]]; then
		envs+=("RATE_LIMIT_PER_MINUTE=0" "LOG_LEVEL=error")
	fi
	case $mode in
	defaults) envs+=("REDIS_URL=redis://127.0.0.1:$redis_port/0") ;;
	redis+near) envs+=("REDIS_URL=redis://127.0.0.1:$redis_port/0" "CACHE_NEAR_SIZE=$((FILES * 10))") ;;
	redis+near-noaudit) envs+=("REDIS_URL=redis://127.0.0.1:$redis_port/0" "CACHE_NEAR_SIZE=$((FILES * 10))" "CACHE_AUDIT_RATE=0") ;;
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
# X-Forwarded-For (127.0.0.1 is a trusted proxy), as many clients would:
# thread t of THREADS takes addresses CLIENT_BASE + t, + t + THREADS, ...
# modulo CLIENTS, so every address of the pool gets the same share.
cat >"$work/common.lua" <<'EOF'
ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
clients = tonumber(os.getenv("CLIENTS"))
client_base = tonumber(os.getenv("CLIENT_BASE"))
threads = tonumber(os.getenv("THREADS"))
counter = 0
function setup(thread)
	counter = counter + 1
	thread:set("seed", counter)
end
function init(args)
	math.randomseed(seed * 7919)
	next_client = seed - 1
end
function ip()
	local i = (client_base + next_client % clients) % 16777216
	next_client = next_client + threads
	return string.format("10.%d.%d.%d", math.floor(i / 65536), math.floor(i / 256) % 256, i % 256)
end
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

# seconds DURATION prints a wrk duration (10s, 2m, 1h, 10) in seconds.
seconds() {
	case $1 in
	*s) echo "${1%s}" ;;
	*m) echo $((${1%m} * 60)) ;;
	*h) echo $((${1%h} * 3600)) ;;
	*) echo "$1" ;;
	esac
}

# pool_size RATE SECONDS prints how many client addresses make each do
# about CLIENT_REQUESTS requests in SECONDS at RATE requests per second, as
# a multiple of THREADS.
pool_size() {
	awk -v r="$1" -v s="$2" -v per="$CLIENT_REQUESTS" -v t="$THREADS" \
		'BEGIN { n = int(r * s / per / t) + 1; printf "%d", n * t }'
}

export THREADS
export CLIENT_BASE=0
# run_wrk SCRIPT DURATION CLIENTS runs wrk with requests from CLIENTS
# addresses never used before, and writes its RESULT line to $work/result.
run_wrk() {
	CLIENTS=$3 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2" --latency -s "$work/$1.lua" "$base" >"$work/wrk.out" 2>&1 ||
		{ cat "$work/wrk.out" >&2; die "wrk failed"; }
	CLIENT_BASE=$(((CLIENT_BASE + $3) % 16777216))
	grep '^RESULT' "$work/wrk.out" >"$work/result"
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

# redis_cmdstats prints "command calls" for every command the private Redis
# has processed so far (commands inside Lua scripts included).
redis_cmdstats() {
	redis-cli -p "$redis_port" info commandstats | tr -d '\r' |
		awk -F'[:=,]' '/^cmdstat_/ { sub("cmdstat_", "", $1); print $1, $3 }'
}

# per_request BEFORE AFTER REQUESTS prints the commands of the run per
# request, most frequent first, e.g. "get 0.012 evalsha 0.010".
per_request() {
	awk -v r="$3" 'NR == FNR { before[$1] = $2; next }
		{ d = $2 - before[$1]; if (d > 0) printf "%s %.3f\n", $1, d / r }' "$1" "$2" |
		sort -k2 -rn | head -n 8 | tr '\n' ' '
}

fmt_us() { awk -v us="$1" 'BEGIN { if (us >= 1000) printf "%.2fms", us / 1000; else printf "%dµs", us }'; }

# rows holds every run's table row after its req/s and a tab; rps holds
# req/s by "workload mode round"; keys the (workload, mode) pairs in order.
rows=()
declare -A rps_of=()
keys=()
first_mode=${MODES%% *}
for round in $(seq "$ROUNDS"); do
	# Every other round runs the modes in reverse: each PATCH leaves
	# PostgreSQL a dead row version until vacuum, so a mode that always
	# ran after another would always meet more of them.
	order=$MODES
	if ((round % 2 == 0)); then
		order=$(printf '%s\n' $MODES | tac | tr '\n' ' ')
	fi
	for mode in $order; do
		start_server "$mode"
		log "$mode: a repeated GET is served as X-Cache: $(x_cache)"
		workloads="get mix"
		if [[ $mode == "$first_mode" ]]; then
			# The ceiling of the HTTP stack on this machine: no cache, no
			# session, no database.
			workloads="healthz $workloads"
		fi
		for workload in $workloads; do
			log "$mode: $workload, warm-up $WARMUP, then $DURATION"
			# The warm-up's pool assumes at most 100k requests per second;
			# its rate sizes the pool of the measured run.
			run_wrk "$workload" "$WARMUP" "$(pool_size 100000 "$(seconds "$WARMUP")")"
			read -r _ wreqs wdur _ <"$work/result"
			clients=$(pool_size "$(awk -v r="$wreqs" -v d="$wdur" 'BEGIN { print r / (d / 1e6) }')" "$(seconds "$DURATION")")
			c0=$(redis_cmds)
			redis_cmdstats >"$work/cmdstats.0"
			run_wrk "$workload" "$DURATION" "$clients"
			read -r _ reqs dur p50 p90 p99 errs non2xx <"$work/result"
			redis_cmdstats >"$work/cmdstats.1"
			c1=$(redis_cmds)
			rps=$(awk -v r="$reqs" -v d="$dur" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
			cmds=- limiter=-
			if [[ $mode != in-process ]]; then
				# Three INFO commands count between c0 and c1.
				cmds=$(awk -v a="$c0" -v b="$c1" -v r="$reqs" 'BEGIN { printf "%.2f", (b - a - 3) / r }')
				# One INCRBY per reservation of the limiter, whose script runs
				# 3 commands (EVALSHA, INCRBY, PTTL or PEXPIRE).
				limiter=$(awk -v r="$reqs" '$1 == "incrby" { n[FILENAME] = $2 }
					END { printf "%.3f", 3 * (n[ARGV[2]] - n[ARGV[1]]) / r }' "$work/cmdstats.0" "$work/cmdstats.1")
				log "$mode $workload: $clients clients; Redis commands per request: $(per_request "$work/cmdstats.0" "$work/cmdstats.1" "$reqs")"
			fi
			case $workload in
			healthz) label='GET /healthz (ceiling)' ;;
			get) label='GET /v1/files/{id}' ;;
			mix) label='90% GET / 10% PATCH' ;;
			esac
			rows+=("$rps	| $label | $mode | $rps | $(fmt_us "$p50") | $(fmt_us "$p90") | $(fmt_us "$p99") | $cmds | $limiter | $errs / $non2xx |")
			[[ -n ${rps_of[$workload $mode 1]:-} ]] || keys+=("$workload $mode")
			rps_of[$workload $mode $round]=$rps
			log "round $round/$ROUNDS, $mode $workload: $rps req/s, p50 $(fmt_us "$p50"), p99 $(fmt_us "$p99"), errors $errs, non-2xx $non2xx"
		done
		stop_server
	done
done

# median_row LABEL MODE prints the row of the run of median req/s.
median_row() {
	printf '%s\n' "${rows[@]}" | awk -F'\t' -v p="| $1 | $2 |" 'index($2, p) == 1' |
		sort -n | awk -F'\t' '{ r[NR] = $2 } END { if (NR) print r[int((NR + 1) / 2)] }'
}

# ratios NAME A B prints, for each round, req/s of run A over run B
# ("workload mode"), and their median.
ratios() {
	local name=$1 a=$2 b=$3 list="" r
	[[ -n ${rps_of[$a 1]:-} && -n ${rps_of[$b 1]:-} ]] || return 0
	for round in $(seq "$ROUNDS"); do
		r=$(awk -v x="${rps_of[$a $round]}" -v y="${rps_of[$b $round]}" 'BEGIN { printf "%.2f", x / y }')
		list="$list $r"
	done
	echo "$name: median $(printf '%s\n' $list | sort -n | awk '{ r[NR] = $1 } END { print r[int((NR + 1) / 2)] }') (rounds:$list)"
}

echo
echo "| workload | configuration | req/s | p50 | p90 | p99 | redis cmds/req | of which rate limit | errors / non-2xx |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for w in healthz get mix; do
	for k in "${keys[@]}"; do
		[[ $k == "$w "* ]] || continue
		case $w in
		healthz) label='GET /healthz (ceiling)' ;;
		get) label='GET /v1/files/{id}' ;;
		mix) label='90% GET / 10% PATCH' ;;
		esac
		median_row "$label" "${k#* }"
	done
done
echo
ratios "cached GET (defaults) / GET /healthz" "get defaults" "healthz defaults"
ratios "90/10 mix, defaults / off (CACHE_DISABLED=true)" "mix defaults" "mix off"
[[ $ROUNDS -eq 1 ]] || echo "$ROUNDS rounds; each row is the round of median req/s."
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after $WARMUP warm-up), $FILES files, PostgreSQL, private Redis $(redis-server --version | grep -o 'v=[0-9.]*'), $(nproc) CPUs, $(go version | cut -d' ' -f3); server, Redis, PostgreSQL and wrk share the machine."
echo "redis cmds/req: the private Redis' total_commands_processed during the run over the requests (commands inside Lua scripts count); of which rate limit: 3 per INCRBY (the limiter's script)."
echo "Clients: X-Forwarded-For from a fresh pool of addresses per run, about $CLIENT_REQUESTS requests each (the default limit is 600 per minute)."
echo "GET /healthz touches no cache, session or database: the ceiling of the HTTP stack (server and wrk on the same CPUs)."
echo "Modes: defaults = REDIS_URL only (rate limit 600/min per client, info logs, default near cache, auditor at 1 read/s); then rate limit off and error logs: redis+near = Redis and a near cache of 10 entries per file; redis+near-noaudit = the same with CACHE_AUDIT_RATE=0; redis = CACHE_NEAR_SIZE=0; always-miss = CACHE_TTL_FILE=1ms (reads miss and load from PostgreSQL); off = CACHE_DISABLED=true (no cache); in-process = no REDIS_URL (memstore)."
