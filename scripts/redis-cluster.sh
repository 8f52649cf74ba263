#!/usr/bin/env bash
# Start or stop a private Redis Cluster of 3 masters + 3 replicas on free
# loopback ports. See --help.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/redis-cluster.sh start DIR
       scripts/redis-cluster.sh stop DIR

start  Starts 6 redis-server processes on free 127.0.0.1 ports (no
       persistence, cluster-node-timeout 2000ms), joins them with
       redis-cli --cluster create --cluster-replicas 1, and waits until
       every node reports cluster_state:ok and every master has a replica
       in sync. Data, logs and pid files go in DIR. Prints on stdout:
         REDIS_CLUSTER_NODES=127.0.0.1:PORT,...   (all 6 nodes)
       Progress and errors go to stderr. If start fails, whatever it
       started is stopped again.
stop   Kills exactly the processes named by DIR/*.pid and waits for them
       to exit.

Environment: REDIS_SERVER, REDIS_CLI (default: redis-server, redis-cli).

Example:
  dir=$(mktemp -d)
  eval "$(scripts/redis-cluster.sh start "$dir")"
  first=${REDIS_CLUSTER_NODES%%,*}
  redis-cli -c -h "${first%:*}" -p "${first##*:}" cluster info
  scripts/redis-cluster.sh stop "$dir" && rm -rf "$dir"
EOF
}

REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
NODES=6
TIMEOUT=30 # seconds, for each wait

log() { echo "redis-cluster: $*" >&2; }

# shellcheck source=scripts/redis-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/redis-lib.sh"

# start_node NAME: starts node NAME on fresh ports, retrying on new ports if
# it exits during startup; records DIR/NAME.pid and DIR/NAME.port.
start_node() {
	local name=$1 attempt ports pid deadline
	mkdir -p "$dir/$name"
	for attempt in 1 2 3; do
		mapfile -t ports < <(free_ports 2)
		rm -f "$dir/$name/nodes.conf"
		"$REDIS_SERVER" --port "${ports[0]}" --bind 127.0.0.1 --daemonize no \
			--dir "$dir/$name" --logfile "$dir/$name/redis.log" \
			--save "" --appendonly no --repl-diskless-sync-delay 0 \
			--cluster-enabled yes --cluster-port "${ports[1]}" \
			--cluster-config-file "$dir/$name/nodes.conf" --cluster-node-timeout 2000 \
			</dev/null >"$dir/$name/stderr.log" 2>&1 &
		pid=$!
		echo "$pid" >"$dir/$name.pid"
		echo "${ports[0]}" >"$dir/$name.port"
		deadline=$((SECONDS + TIMEOUT))
		while alive "$pid" && ((SECONDS < deadline)); do
			if [[ $(cli "${ports[0]}" ping) == PONG ]]; then
				return 0
			fi
			sleep 0.05
		done
		log "$name on port ${ports[0]} did not start (attempt $attempt):"
		tail -q -n 5 "$dir/$name/stderr.log" "$dir/$name/redis.log" >&2 2>/dev/null || true
		kill -9 "$pid" 2>/dev/null || true
	done
	return 1
}

# formed: every node reports cluster_state:ok, knows all 6 nodes, sees 3
# healthy masters with slots and 3 connected replicas, and every replica's
# link to its master is up.
formed() {
	local port info
	for port in "${node_ports[@]}"; do
		info=$(cli "$port" cluster info) || return 1
		[[ $info == *cluster_state:ok* && $info == *cluster_known_nodes:$NODES* ]] || return 1
		cli "$port" cluster nodes | awk '
			$3 ~ /fail|handshake|noaddr/ || $8 != "connected" { bad++ }
			$3 ~ /master/ && NF > 8 { masters++ }
			$3 ~ /slave/ { replicas++ }
			END { exit !(bad == 0 && masters == 3 && replicas == 3) }' || return 1
		info=$(cli "$port" info replication) || return 1
		if [[ $info == *role:slave* && $info != *master_link_status:up* ]]; then
			return 1
		fi
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

	local i addrs=() deadline
	node_ports=()
	for ((i = 1; i <= NODES; i++)); do
		start_node "node$i"
		node_ports+=("$(<"$dir/node$i.port")")
		addrs+=("127.0.0.1:${node_ports[-1]}")
	done

	log "creating cluster ${addrs[*]}"
	if ! timeout "$TIMEOUT" "$REDIS_CLI" --cluster create "${addrs[@]}" \
		--cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1; then
		cat "$dir/create.log" >&2
		exit 1
	fi

	deadline=$((SECONDS + TIMEOUT))
	until formed; do
		if ((SECONDS >= deadline)); then
			log "cluster did not reach cluster_state:ok with 3 masters and 3 replicas in ${TIMEOUT}s"
			exit 1
		fi
		sleep 0.1
	done
	trap - EXIT
	log "cluster ready"
	local IFS=,
	echo "REDIS_CLUSTER_NODES=${addrs[*]}"
}

run_command "$@"
