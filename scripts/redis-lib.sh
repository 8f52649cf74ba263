# Shared by redis-cluster.sh and redis-sentinel.sh: source it after
# setting REDIS_CLI.

# free_ports N prints N distinct free loopback TCP ports, one per line.
free_ports() {
	if command -v python3 >/dev/null 2>&1 && python3 - "$1" 2>/dev/null <<'PY'; then return 0; fi
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
PY
	# Without python3: random ports below the ephemeral range that nothing
	# accepts connections on.
	local n=0 p seen=" "
	while ((n < $1)); do
		p=$((20000 + RANDOM % 12000))
		[[ $seen == *" $p "* ]] && continue
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		seen+="$p "
		echo "$p"
		n=$((n + 1))
	done
}

cli() { # PORT ARGS...
	local port=$1
	shift
	"$REDIS_CLI" -h 127.0.0.1 -p "$port" "$@" 2>/dev/null
}

# alive PID: the process exists, is no zombie, and runs redis-server (where
# /proc tells), so a recycled PID is left alone.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[[ ! -d /proc/self ]] || [[ $(readlink "/proc/$1/exe" 2>/dev/null) == *redis* ]]
}

# stop DIR: kills the servers whose pid files are in $dir (SIGTERM, then
# SIGKILL after 10s) and waits for them.
stop() {
	local f pid deadline
	[[ -d $dir ]] || return 0
	for f in "$dir"/*.pid; do
		[[ -e $f ]] || continue
		pid=$(<"$f")
		if alive "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	for f in "$dir"/*.pid; do
		[[ -e $f ]] || continue
		pid=$(<"$f")
		deadline=$((SECONDS + 10))
		while alive "$pid"; do
			if ((SECONDS >= deadline)); then
				kill -KILL "$pid" 2>/dev/null || true
			fi
			sleep 0.05
		done
		rm -f "$f"
	done
}

# run_command ARGS: the command line of a start script, start DIR | stop DIR
# | --help (the script defines start and usage).
run_command() {
	case ${1:-} in
	start | stop)
		[[ $# -eq 2 ]] || { usage >&2; exit 2; }
		dir=$2
		"$1"
		;;
	-h | --help | help)
		usage
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
}
