#!/usr/bin/env bash
# Start or stop a private Redis Sentinel deployment (1 master, 1 replica,
# 3 sentinels) on free loopback ports. See --help.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/redis-sentinel.sh start DIR
       scripts/redis-sentinel.sh stop DIR

start  Starts a master and a replica of it, then 3 sentinels monitoring
       them as "filecache" (quorum 2, down-after-milliseconds 1000,
       failover-timeout 3000), all redis-server processes on free
       127.0.0.1 ports without persistence. Waits until the replica is in
       sync and every sentinel reports the master, its replica and the 2
       other sentinels. Data, logs and pid files go in DIR. Prints on stdout:
         REDIS_SENTINEL_ADDRS=127.0.0.1:PORT,...   (the 3 sentinels)
         REDIS_SENTINEL_MASTER=filecache
       Progress and errors go to stderr. If start fails, whatever it
       started is stopped again.
stop   Kills exactly the processes named by DIR/*.pid and waits for them
       to exit.

Environment: REDIS_SERVER, REDIS_CLI (default: redis-server, redis-cli).

Example:
  dir=$(mktemp -d)
  eval "$(scripts/redis-sentinel.sh start "$dir")"
  first=${REDIS_SENTINEL_ADDRS%%,*}
  redis-cli -h "${first%:*}" -p "${first##*:}" sentinel get-master-addr-by-name "$REDIS_SENTINEL_MASTER"
  scripts/redis-sentinel.sh stop "$dir" && rm -rf "$dir"
EOF
}

REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
MASTER_NAME=filecache
SENTINELS=3
TIMEOUT=30 # seconds, for each wait

log() { echo "redis-sentinel: $*" >&2; }

# shellcheck source=scripts/redis-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/redis-lib.sh"

# start_node NAME [CONF] -- [ARGS...]: starts redis-server NAME on a fresh
# port (with config file CONF first if given), retrying on a new port if it
# exits during startup; records DIR/NAME.pid and DIR/NAME.port.
start_node() {
	local name=$1 conf=() attempt port pid deadline
	shift
	while [[ $1 != -- ]]; do
		conf+=("$1")
		shift
	done
	shift
	mkdir -p "$dir/$name"
	for attempt in 1 2 3; do
		port=$(free_ports 1)
		"$REDIS_SERVER" "${conf[@]}" --port "$port" --bind 127.0.0.1 --daemonize no \
			--dir "$dir/$name" --logfile "$dir/$name/redis.log" \
			--save "" --appendonly no --repl-diskless-sync-delay 0 "$@" \
			</dev/null >"$dir/$name/stderr.log" 2>&1 &
		pid=$!
		echo "$pid" >"$dir/$name.pid"
		echo "$port" >"$dir/$name.port"
		deadline=$((SECONDS + TIMEOUT))
		while alive "$pid" && ((SECONDS < deadline)); do
			if [[ $(cli "$port" ping) == PONG ]]; then
				return 0
			fi
			sleep 0.05
		done
		log "$name on port $port did not start (attempt $attempt):"
		tail -q -n 5 "$dir/$name/stderr.log" "$dir/$name/redis.log" >&2 2>/dev/null || true
		kill -9 "$pid" 2>/dev/null || true
	done
	return 1
}

# wait_until DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_until() {
	local what=$1 deadline=$((SECONDS + TIMEOUT))
	shift
	until "$@"; do
		if ((SECONDS >= deadline)); then
			log "timed out after ${TIMEOUT}s waiting for $what"
			return 1
		fi
		sleep 0.1
	done
}

replica_synced() {
	[[ $(cli "$replica_port" info replication) == *master_link_status:up* ]]
}

# sentinels_agree: every sentinel sees the master as master, 1 replica and
# the 2 other sentinels, and reports the master's address.
sentinels_agree() {
	local port
	for port in "${sentinel_ports[@]}"; do
		cli "$port" sentinel master "$MASTER_NAME" | awk -v others=$((SENTINELS - 1)) '
			NR % 2 { key = $0; next }
			{ v[key] = $0 }
			END { exit !(v["flags"] == "master" && v["num-slaves"] == 1 && v["num-other-sentinels"] == others) }' ||
			return 1
		[[ $(cli "$port" sentinel get-master-addr-by-name "$MASTER_NAME" | tr '\n' ' ') == "127.0.0.1 $master_port " ]] ||
			return 1
	done
}

start() {
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if compgen -G "$dir/*.pid" >/dev/null; then
		log "$dir already has pid files; stop it first"
		exit 1
	fi
	command -v "$REDIS_SERVER" >/dev/null || { log "$REDIS_SERVER not found"; exit 1; }
	command -v "$REDIS_CLI" >/dev/null || { log "$REDIS_CLI not found"; exit 1; }
	trap 'log "start failed; stopping what was started"; stop' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	start_node master --
	master_port=$(<"$dir/master.port")
	start_node replica -- --replicaof 127.0.0.1 "$master_port"
	replica_port=$(<"$dir/replica.port")
	# Sentinels find replicas in the master's INFO, which they read on
	# connecting and then only every 10s: start them after the sync.
	wait_until "the replica to sync" replica_synced

	local i conf addrs=()
	sentinel_ports=()
	for ((i = 1; i <= SENTINELS; i++)); do
		conf=$dir/sentinel$i/sentinel.conf
		mkdir -p "$dir/sentinel$i"
		cat >"$conf" <<EOF
sentinel monitor $MASTER_NAME 127.0.0.1 $master_port 2
sentinel down-after-milliseconds $MASTER_NAME 1000
sentinel failover-timeout $MASTER_NAME 3000
sentinel parallel-syncs $MASTER_NAME 1
EOF
		start_node "sentinel$i" "$conf" -- --sentinel
		sentinel_ports+=("$(<"$dir/sentinel$i.port")")
		addrs+=("127.0.0.1:${sentinel_ports[-1]}")
	done
	wait_until "the sentinels to agree" sentinels_agree

	trap - EXIT
	log "sentinel ready: master 127.0.0.1:$master_port, replica 127.0.0.1:$replica_port"
	local IFS=,
	echo "REDIS_SENTINEL_ADDRS=${addrs[*]}"
	echo "REDIS_SENTINEL_MASTER=$MASTER_NAME"
}

run_command "$@"
