# Shared helpers for the scripts in hack/. Source it; do not run it.
# shellcheck shell=bash

# Paths every script and test agrees on; used by the scripts that source this.
# shellcheck disable=SC2034
LAINGFILE_CACHE=${LAINGFILE_CACHE:-/var/cache/laingfile}
LAINGFILE_STATE=/var/lib/laingfile
LAINGFILE_RUN=/run/laingfile
LAINGFILE_LOGS=/var/log/laingfile
LAINGFILE_SOCK=unix://$LAINGFILE_RUN/buildkitd.sock
LAINGFILE_REGISTRY=127.0.0.1:5000
LAINGFILE_BUILDER=laingfile
# The test Nix binary caches: hack/binary-cache.sh makes them (keys/, signed/, unsigned/) and
# hack/env.sh serves them on http://LAINGFILE_BINARY_CACHE_ADDR; the token of /private and
# /push is in LAINGFILE_BINARY_CACHE_TOKEN (root only). test/testenv/binarycache.go agrees.
LAINGFILE_BINARY_CACHE=$LAINGFILE_CACHE/binarycache/cache
LAINGFILE_BINARY_CACHE_ADDR=127.0.0.1:5001
LAINGFILE_BINARY_CACHE_TOKEN=$LAINGFILE_RUN/binary-cache.token
# The Docker Engines hack/env.sh starts, one per image store; each is reachable as the
# docker context laingfile-STORE, whose default builder is buildx's `docker` driver.
LAINGFILE_ENGINES=(classic containerd)

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# need_root fails early: every script here mounts, binds ports or writes under /var.
need_root() {
	[[ $(id -u) == 0 ]] || die "$(basename "$0") must run as root"
}

# pid_of NAME prints the pid recorded for NAME if that process is still alive and
# still runs the binary recorded with it (by default one called NAME); a stale file
# (reboot, pid reuse) prints nothing.
pid_of() {
	local name=$1 file=$LAINGFILE_RUN/$1.pid pid="" bin="" exe
	[[ -s $file ]] || return 1
	read -r pid bin <"$file" || [[ -n $pid ]] || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	[[ $(basename "${exe% (deleted)}") == "${bin:-$name}" ]] || return 1
	echo "$pid"
}

# start_daemon NAME CMD... runs CMD detached from this shell (its own session, so
# the caller's terminal or job control cannot take it down), logs to
# $LAINGFILE_LOGS/NAME.log and records its pid in $LAINGFILE_RUN/NAME.pid. The
# daemon's binary is expected to be called NAME; DAEMON_BIN=BINARY start_daemon
# NAME ... names another (two dockerd instances under names of their own).
start_daemon() {
	local name=$1
	shift
	mkdir -p "$LAINGFILE_RUN" "$LAINGFILE_LOGS"
	# A background job of a non-interactive shell is not a process group leader, so
	# setsid execs in place and $! is the daemon itself (pid_of checks that below).
	setsid "$@" >>"$LAINGFILE_LOGS/$name.log" 2>&1 </dev/null &
	if [[ -n ${DAEMON_BIN:-} && $DAEMON_BIN != "$name" ]]; then
		echo "$! $DAEMON_BIN" >"$LAINGFILE_RUN/$name.pid"
	else
		echo $! >"$LAINGFILE_RUN/$name.pid"
	fi
	sleep 0.2
	pid_of "$name" >/dev/null || {
		tail -n 20 "$LAINGFILE_LOGS/$name.log" >&2
		die "$name exited right after start (log: $LAINGFILE_LOGS/$name.log)"
	}
}

# stop_daemon NAME [HOOK] sends SIGTERM to the recorded pid, runs HOOK (if given)
# to release whatever the daemon is waiting for, waits up to 30 s, and only then
# SIGKILLs that same pid. Nothing is killed by name.
stop_daemon() {
	local name=$1 hook=${2:-} pid i
	if pid=$(pid_of "$name"); then
		log "stopping $name (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		[[ -z $hook ]] || "$hook"
		for ((i = 0; i < 300; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			warn "$name (pid $pid) ignored SIGTERM for 30s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
		fi
	fi
	rm -f "$LAINGFILE_RUN/$name.pid"
}

# wait_until SECONDS CMD... retries CMD every 0.2 s until it succeeds.
wait_until() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# http_status HOST:PORT PATH prints the HTTP status code of a GET, with no
# dependency beyond bash.
http_status() {
	local host=${1%:*} port=${1##*:} path=$2 line
	exec 3<>"/dev/tcp/$host/$port" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$1" >&3
	IFS= read -r -t 5 line <&3 || {
		exec 3<&-
		return 1
	}
	exec 3<&-
	line=${line#HTTP/* }
	echo "${line%% *}"
}

# load_versions sets BUILDKIT_VERSION, BUILDX_VERSION, REGISTRY_VERSION,
# ACTIONLINT_VERSION and DOCKERD_VERSION.
load_versions() {
	# shellcheck source=hack/versions.env
	source "$REPO_ROOT/hack/versions.env"
	: "${BUILDKIT_VERSION:?} ${BUILDX_VERSION:?} ${REGISTRY_VERSION:?} ${DOCKERD_VERSION:?} ${DEVCONTAINERS_CLI_VERSION:?}"
}
