#!/usr/bin/env bash
# Starts, reports on and stops the local test environment: a registry on
# 127.0.0.1:5000, buildkitd on unix:///run/laingfile/buildkitd.sock with an arm64
# emulator registered, the buildx builder "laingfile" pointing at it, the Nix binary
# cache server on 127.0.0.1:5001 (hack/binarycache; hack/binary-cache.sh makes what
# it serves), and two Docker
# Engines whose default builders (buildx's `docker` driver) are what most users
# build with: one on the classic image store and one on the containerd image store,
# as the docker contexts laingfile-classic and laingfile-containerd.
#
#   hack/env.sh up       start what is not running (running twice is harmless)
#   hack/env.sh status   show each piece; exits 1 if any is missing
#   hack/env.sh down     stop and undo exactly what `up` started
#
# Run hack/tools.sh first.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BINFMT=/proc/sys/fs/binfmt_misc
QEMU_CONF=/usr/lib/binfmt.d/qemu-aarch64.conf
SOCK_PATH=${LAINGFILE_SOCK#unix://}

# Markers in the run dir record what `up` changed on the host, so `down` undoes
# that and nothing that was there before.
MARK_BINFMT_MOUNTED=$LAINGFILE_RUN/binfmt-mounted
MARK_QEMU_REGISTERED=$LAINGFILE_RUN/qemu-aarch64-registered
MARK_QEMU_REFLAGGED=$LAINGFILE_RUN/qemu-aarch64-reflagged
MARK_BUILDER_CREATED=$LAINGFILE_RUN/builder-created
# MARK_CONTEXT_CREATED-ENGINE: `up` created the docker context of that engine.
MARK_CONTEXT_CREATED=$LAINGFILE_RUN/context-created
# MARK_BRIDGE_CREATED-ENGINE: `up` created the network bridge of that engine.
MARK_BRIDGE_CREATED=$LAINGFILE_RUN/bridge-created

need_tools() {
	local b
	for b in buildkitd buildctl registry runc dockerd containerd containerd-shim-runc-v2 docker ip; do
		command -v "$b" >/dev/null || die "$b not found; run hack/tools.sh"
	done
	docker buildx version >/dev/null 2>&1 || die "docker buildx not found; run hack/tools.sh"
}

setup_binfmt() {
	if ! mountpoint -q "$BINFMT"; then
		log "mounting binfmt_misc on $BINFMT"
		mount -t binfmt_misc binfmt_misc "$BINFMT"
		touch "$MARK_BINFMT_MOUNTED"
	fi
	# The C flag takes an emulated program's credentials from its file, as on a native host and
	# as docker/setup-qemu-action registers qemu: without it setuid programs (a devcontainer's
	# sudo) run unprivileged. A registration without it is replaced; `down` restores it.
	if [[ -e $BINFMT/qemu-aarch64 ]] && ! grep -q '^flags: .*C' "$BINFMT/qemu-aarch64"; then
		log "re-registering qemu-aarch64 with the C flag (setuid programs under emulation)"
		echo -1 >"$BINFMT/qemu-aarch64"
		[[ -e $MARK_QEMU_REGISTERED ]] || touch "$MARK_QEMU_REFLAGGED"
	fi
	if [[ ! -e $BINFMT/qemu-aarch64 ]]; then
		[[ -f $QEMU_CONF ]] || die "$QEMU_CONF missing; run hack/tools.sh (qemu-user-static)"
		log "registering qemu-aarch64 from $QEMU_CONF, with the C flag"
		qemu_registration | sed '/:[A-Z]*C[A-Z]*$/!s/$/C/' >"$BINFMT/register"
		[[ -e $MARK_QEMU_REFLAGGED ]] || touch "$MARK_QEMU_REGISTERED"
	fi
}

# qemu_registration prints the registration line of qemu-aarch64 as Debian ships it.
qemu_registration() {
	grep -v '^[[:space:]]*\(#\|$\)' "$QEMU_CONF"
}

write_registry_config() {
	cat >"$LAINGFILE_RUN/registry.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $LAINGFILE_STATE/registry
  delete:
    enabled: true
http:
  addr: $LAINGFILE_REGISTRY
EOF
}

# Two cores: up to two CPU-bound steps plus two that mostly wait on I/O (pulls,
# copies, exports). The cache is capped so test runs cannot fill the disk, while
# the reserved part keeps the builder image and fixtures warm between runs.
write_buildkitd_config() {
	cat >"$LAINGFILE_RUN/buildkitd.toml" <<EOF
[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  max-parallelism = $(($(nproc) * 2))
  gc = true
  reservedSpace = "2GB"
  maxUsedSpace = "20GB"
  minFreeSpace = "10GB"

[worker.containerd]
  enabled = false

[registry."$LAINGFILE_REGISTRY"]
  http = true
  insecure = true
EOF
}

registry_answers() { [[ $(http_status "$LAINGFILE_REGISTRY" /v2/) == 200 ]]; }
buildkitd_answers() { buildctl --addr "$LAINGFILE_SOCK" debug workers; }

start_registry() {
	local pid
	if pid=$(pid_of registry); then
		log "registry already running (pid $pid)"
	else
		write_registry_config
		log "starting registry on $LAINGFILE_REGISTRY"
		start_daemon registry env OTEL_TRACES_EXPORTER=none registry serve "$LAINGFILE_RUN/registry.yml"
	fi
	if ! { wait_until 30 registry_answers && pid_of registry >/dev/null; }; then
		tail -n 20 "$LAINGFILE_LOGS/registry.log" >&2
		die "registry does not answer http://$LAINGFILE_REGISTRY/v2/ (log: $LAINGFILE_LOGS/registry.log)"
	fi
}

# unmount_leftovers [DIR...] unmounts anything still mounted under the DIRs (by
# default the state dir), deepest first; a buildkitd or dockerd that died uncleanly
# leaves its overlay mounts behind. The directories of a running Docker Engine are
# left alone.
unmount_leftovers() {
	local m e keep=() roots=("$@")
	((${#roots[@]})) || roots=("$LAINGFILE_STATE")
	for e in "${LAINGFILE_ENGINES[@]}"; do
		pid_of "$(engine_daemon "$e")" >/dev/null && keep+=("$(engine_root "$e")" "$(engine_exec_root "$e")")
	done
	awk -v roots="${roots[*]}" -v keep="${keep[*]}" '
		BEGIN { nr = split(roots, r, " "); nk = split(keep, k, " ") }
		{
			for (i = 1; i <= nk; i++) if (index($5, k[i] "/") == 1 || $5 == k[i]) next
			for (i = 1; i <= nr; i++) if (index($5, r[i] "/") == 1) { print $5; next }
		}' /proc/self/mountinfo | sort -r |
		while read -r m; do
			log "unmounting leftover $m"
			umount "$m" || umount -l "$m"
		done
}

# buildkitd runs build steps as runc containers (default runc root) whose bundles
# live under its root. A graceful stop waits for running steps, and a killed
# buildkitd leaves them running, so stop them by id: only containers whose bundle
# is under our buildkitd root.
remove_build_containers() {
	local id
	runc list 2>/dev/null | awk -v root="$LAINGFILE_STATE/buildkitd/" 'NR > 1 && index($4, root) == 1 { print $1 }' |
		while read -r id; do
			log "removing build container $id"
			runc kill "$id" KILL 2>/dev/null || true
			runc delete --force "$id" 2>/dev/null || warn "runc delete $id failed"
		done
}

start_buildkitd() {
	local pid
	if pid=$(pid_of buildkitd); then
		log "buildkitd already running (pid $pid)"
	else
		remove_build_containers
		unmount_leftovers
		rm -f "$SOCK_PATH"
		write_buildkitd_config
		log "starting buildkitd on $LAINGFILE_SOCK"
		start_daemon buildkitd buildkitd --config "$LAINGFILE_RUN/buildkitd.toml" \
			--root "$LAINGFILE_STATE/buildkitd" --addr "$LAINGFILE_SOCK" \
			--oci-worker-snapshotter overlayfs
	fi
	if ! { wait_until 60 buildkitd_answers && pid_of buildkitd >/dev/null; }; then
		tail -n 20 "$LAINGFILE_LOGS/buildkitd.log" >&2
		die "buildkitd does not answer on $LAINGFILE_SOCK (log: $LAINGFILE_LOGS/buildkitd.log)"
	fi
}

platforms() { buildctl --addr "$LAINGFILE_SOCK" debug workers | awk 'NR > 1 { print $2 }'; }

check_platforms() {
	local p
	p=$(platforms)
	[[ ,$p, == *,linux/arm64,* ]] ||
		die "buildkitd lists no linux/arm64 (platforms: $p); binfmt was probably registered after it started: run hack/env.sh down && hack/env.sh up"
	log "buildkitd platforms: $p"
}

# The binary cache server: hack/binarycache built where the daemon runs it from, its
# push caches (empty at each start) and its token (written once, root only).
BINARY_CACHE_BIN=$LAINGFILE_CACHE/binarycache/bin/binarycache
BINARY_CACHE_PUSH=$LAINGFILE_STATE/binarycache-push

binary_cache_answers() { [[ $(http_status "$LAINGFILE_BINARY_CACHE_ADDR" /signed/nix-cache-info) == 200 ]]; }

# build_binary_cache_server builds hack/binarycache and succeeds when the binary changed. The
# new file is renamed into place, so a running server keeps the old one until it restarts.
build_binary_cache_server() {
	command -v go >/dev/null || die "go is not on PATH (hack/binarycache is a Go program); run hack/tools.sh"
	mkdir -p "$(dirname "$BINARY_CACHE_BIN")"
	(cd "$REPO_ROOT" && go build -trimpath -buildvcs=false -o "$BINARY_CACHE_BIN.new" ./hack/binarycache)
	if cmp -s "$BINARY_CACHE_BIN.new" "$BINARY_CACHE_BIN"; then
		rm -f "$BINARY_CACHE_BIN.new"
		return 1
	fi
	log "installing $BINARY_CACHE_BIN"
	mv -f "$BINARY_CACHE_BIN.new" "$BINARY_CACHE_BIN"
}

ensure_binary_cache_token() {
	local f=$LAINGFILE_BINARY_CACHE_TOKEN
	[[ -s $f ]] && return
	log "writing a new binary cache token to $f (root only)"
	(umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$f.new")
	mv -f "$f.new" "$f"
}

start_binary_cache() {
	local pid changed=0
	if build_binary_cache_server; then changed=1; fi
	ensure_binary_cache_token
	if pid=$(pid_of binarycache); then
		if ((changed)); then
			log "hack/binarycache changed; restarting the binary cache server"
			stop_daemon binarycache
		else
			log "binary cache server already running (pid $pid)"
		fi
	fi
	if ! pid_of binarycache >/dev/null; then
		rm -rf "$BINARY_CACHE_PUSH"
		mkdir -p "$BINARY_CACHE_PUSH"
		log "starting the binary cache server on http://$LAINGFILE_BINARY_CACHE_ADDR ($LAINGFILE_BINARY_CACHE)"
		start_daemon binarycache "$BINARY_CACHE_BIN" serve -addr "$LAINGFILE_BINARY_CACHE_ADDR" \
			-root "$LAINGFILE_BINARY_CACHE" -push-dir "$BINARY_CACHE_PUSH" -token-file "$LAINGFILE_BINARY_CACHE_TOKEN"
	fi
	if ! { wait_until 30 binary_cache_answers && pid_of binarycache >/dev/null; }; then
		tail -n 20 "$LAINGFILE_LOGS/binarycache.log" >&2
		die "the binary cache server does not answer on http://$LAINGFILE_BINARY_CACHE_ADDR (log: $LAINGFILE_LOGS/binarycache.log)"
	fi
	[[ -f $LAINGFILE_BINARY_CACHE/keys/public ]] ||
		warn "the binary caches are not made yet: run hack/binary-cache.sh (hack/setup.sh does)"
}

builder_exists() { docker buildx inspect "$LAINGFILE_BUILDER" >/dev/null 2>&1; }

ensure_builder() {
	if builder_exists; then
		# Not `| grep -q`: grep stops reading at the first match, and under pipefail the
		# writer's SIGPIPE fails the check now and then.
		[[ $(docker buildx inspect "$LAINGFILE_BUILDER") == *"$LAINGFILE_SOCK"* ]] ||
			die "buildx builder $LAINGFILE_BUILDER exists but does not point at $LAINGFILE_SOCK; remove it with: docker buildx rm $LAINGFILE_BUILDER"
		log "buildx builder $LAINGFILE_BUILDER already exists"
	else
		log "creating buildx builder $LAINGFILE_BUILDER (remote driver, $LAINGFILE_SOCK)"
		docker buildx create --name "$LAINGFILE_BUILDER" --driver remote "$LAINGFILE_SOCK" >/dev/null
		touch "$MARK_BUILDER_CREATED"
	fi
	docker buildx inspect --bootstrap "$LAINGFILE_BUILDER" >/dev/null ||
		die "buildx builder $LAINGFILE_BUILDER cannot reach $LAINGFILE_SOCK"
}

# Docker Engines. Each has its own socket, data root, exec root (where its managed
# containerd keeps its state and socket), config file (so /etc/docker/daemon.json does
# not apply), docker context and bridge. The bridge is one `up` creates, with a subnet
# of its own, because the engine's builder runs build steps on the bridge network
# ("network bridge not found" without one). No iptables rules, no NAT, no IP
# forwarding: containers and build steps reach only the host (the registry) and each
# other, which is all the tests need.
engine_daemon() { echo "docker-$1"; }
engine_bridge() { echo "lf-$1"; }
engine_bridge_addr() {
	case $1 in
	classic) echo 10.213.1.1/24 ;;
	containerd) echo 10.213.2.1/24 ;;
	*) die "no bridge address for engine $1" ;;
	esac
}
engine_sock() { echo "$LAINGFILE_RUN/docker-$1.sock"; }
engine_root() { echo "$LAINGFILE_STATE/docker-$1"; }
engine_exec_root() { echo "$LAINGFILE_RUN/docker-$1"; }
engine_context() { echo "laingfile-$1"; }
engine_config() { echo "$LAINGFILE_RUN/docker-$1.json"; }

# write_engine_config ENGINE writes the daemon.json of ENGINE (classic or containerd).
write_engine_config() {
	local e=$1 snapshotter=false
	[[ $e == containerd ]] && snapshotter=true
	cat >"$(engine_config "$e")" <<EOF
{
  "hosts": ["unix://$(engine_sock "$e")"],
  "data-root": "$(engine_root "$e")",
  "exec-root": "$(engine_exec_root "$e")",
  "pidfile": "$(engine_exec_root "$e")/dockerd.pid",
  "features": {"containerd-snapshotter": $snapshotter},
  "insecure-registries": ["$LAINGFILE_REGISTRY"],
  "bridge": "$(engine_bridge "$e")",
  "iptables": false,
  "ip6tables": false,
  "ip-forward": false,
  "ip-masq": false,
  "userland-proxy": false,
  "shutdown-timeout": 10
}
EOF
}

engine_answers() { docker --host "unix://$(engine_sock "$1")" version >/dev/null; }

# engine_store ENGINE prints the image store the running engine reports.
engine_store() {
	local driver
	driver=$(docker --host "unix://$(engine_sock "$1")" info --format '{{.Driver}} {{json .DriverStatus}}' 2>/dev/null) || return 1
	if [[ $driver == *io.containerd.snapshotter* ]]; then
		echo "containerd (snapshotter ${driver%% *})"
	else
		echo "classic (${driver%% *})"
	fi
}

# stop_engine_leftovers ENGINE stops what a dockerd killed without its clean shutdown
# leaves running: its managed containerd (pid file in the exec root) and that
# containerd's shims (those whose -address is its socket). Nothing else is touched.
stop_engine_leftovers() {
	local e=$1 exec_root pid exe p
	exec_root=$(engine_exec_root "$e")
	if [[ -s $exec_root/containerd/containerd.pid ]]; then
		pid=$(<"$exec_root/containerd/containerd.pid")
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || exe=""
		if [[ $pid =~ ^[0-9]+$ && $(basename "${exe% (deleted)}") == containerd ]]; then
			log "stopping the leftover containerd of $(engine_daemon "$e") (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
			wait_until 10 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[[ $(basename "${exe% (deleted)}") == containerd-shim-runc-v2 ]] || continue
		[[ " $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) " == *" -address $exec_root/containerd/containerd.sock "* ]] || continue
		log "stopping the leftover shim ${p#/proc/} of $(engine_daemon "$e")"
		kill -KILL "${p#/proc/}" 2>/dev/null || true
	done
}

# ensure_bridge ENGINE creates the engine's bridge with its address, unless it is there.
ensure_bridge() {
	local br addr
	br=$(engine_bridge "$1")
	addr=$(engine_bridge_addr "$1")
	if ip link show "$br" >/dev/null 2>&1; then
		[[ $(ip -o -4 addr show dev "$br") == *" $addr "* ]] ||
			die "network interface $br exists without the address $addr; remove it with: ip link del $br"
		log "bridge $br ($addr) already exists"
	else
		log "creating bridge $br ($addr) for $(engine_daemon "$1")"
		ip link add name "$br" type bridge
		touch "$MARK_BRIDGE_CREATED-$1"
		ip addr add "$addr" dev "$br"
		ip link set "$br" up
	fi
}

remove_bridge() {
	local br
	br=$(engine_bridge "$1")
	if [[ -e $MARK_BRIDGE_CREATED-$1 ]]; then
		if ip link show "$br" >/dev/null 2>&1; then
			log "removing bridge $br"
			ip link del "$br"
		fi
		rm -f "$MARK_BRIDGE_CREATED-$1"
	fi
}

start_engine() {
	local e=$1 name pid
	name=$(engine_daemon "$e")
	if pid=$(pid_of "$name"); then
		log "$name already running (pid $pid)"
	else
		stop_engine_leftovers "$e"
		unmount_leftovers "$(engine_root "$e")" "$(engine_exec_root "$e")"
		# The pid file of a dockerd that did not stop cleanly; dockerd refuses to start while
		# that pid exists, even as a zombie not yet reaped.
		rm -f "$(engine_sock "$e")" "$(engine_exec_root "$e")/dockerd.pid"
		mkdir -p "$(engine_root "$e")" "$(engine_exec_root "$e")"
		ensure_bridge "$e"
		write_engine_config "$e"
		log "starting $name (dockerd, $e image store) on unix://$(engine_sock "$e")"
		DAEMON_BIN=dockerd start_daemon "$name" dockerd --config-file "$(engine_config "$e")"
	fi
	if ! { wait_until 60 engine_answers "$e" && pid_of "$name" >/dev/null; }; then
		tail -n 20 "$LAINGFILE_LOGS/$name.log" >&2
		die "$name does not answer on unix://$(engine_sock "$e") (log: $LAINGFILE_LOGS/$name.log)"
	fi
}

context_host() { docker context inspect --format '{{.Endpoints.docker.Host}}' "$1" 2>/dev/null; }

# ensure_context ENGINE makes the docker context laingfile-ENGINE point at the engine,
# so that `docker --context laingfile-ENGINE buildx build` uses its default builder.
ensure_context() {
	local e=$1 ctx host out
	ctx=$(engine_context "$e")
	if host=$(context_host "$ctx"); then
		[[ $host == "unix://$(engine_sock "$e")" ]] ||
			die "docker context $ctx exists but points at $host, not unix://$(engine_sock "$e"); remove it with: docker context rm $ctx"
		log "docker context $ctx already exists"
	else
		log "creating docker context $ctx (unix://$(engine_sock "$e"))"
		out=$(docker context create "$ctx" --description "laingfile test engine, $e image store" \
			--docker "host=unix://$(engine_sock "$e")" 2>&1) || die "docker context create $ctx: $out"
		touch "$MARK_CONTEXT_CREATED-$e"
	fi
}

engine_platforms() {
	docker --context "$(engine_context "$1")" buildx inspect "$(engine_context "$1")" 2>/dev/null |
		sed -n 's/^Platforms:[[:space:]]*//p'
}

# check_engine ENGINE: the engine's store is the one asked for and its builder (buildx's
# docker driver, named after the context) builds for linux/arm64 too.
check_engine() {
	local e=$1 store p
	store=$(engine_store "$e") || die "$(engine_daemon "$e") does not answer docker info"
	[[ $store == "$e "* ]] ||
		die "$(engine_daemon "$e") runs the $store image store, want $e; run hack/env.sh down && hack/env.sh up"
	p=$(engine_platforms "$e")
	[[ ", $p," == *", linux/arm64,"* ]] ||
		die "the default builder of $(engine_daemon "$e") lists no linux/arm64 (platforms: $p); binfmt was probably registered after it started: run hack/env.sh down && hack/env.sh up"
	log "$(engine_daemon "$e"): $store image store; builder $(engine_context "$e") (docker driver), platforms $p"
}

stop_engine() {
	local e=$1 ctx name out
	ctx=$(engine_context "$e")
	name=$(engine_daemon "$e")
	if [[ -e $MARK_CONTEXT_CREATED-$e ]]; then
		if context_host "$ctx" >/dev/null; then
			log "removing docker context $ctx"
			out=$(docker context rm --force "$ctx" 2>&1) || die "docker context rm $ctx: $out"
		fi
		rm -f "$MARK_CONTEXT_CREATED-$e"
	fi
	stop_daemon "$name"
	stop_engine_leftovers "$e"
	unmount_leftovers "$(engine_root "$e")" "$(engine_exec_root "$e")"
	remove_bridge "$e"
	# The exec root is runtime state only (containerd's sockets and state, netns files).
	rm -rf "$(engine_exec_root "$e")"
	rm -f "$(engine_sock "$e")" "$(engine_config "$e")"
}

cmd_up() {
	need_root
	need_tools
	mkdir -p "$LAINGFILE_RUN" "$LAINGFILE_LOGS" "$LAINGFILE_STATE/registry" "$LAINGFILE_STATE/buildkitd"
	# Before buildkitd starts: it detects emulated platforms when it starts.
	setup_binfmt
	start_registry
	start_buildkitd
	check_platforms
	ensure_builder
	start_binary_cache
	local e
	for e in "${LAINGFILE_ENGINES[@]}"; do
		start_engine "$e"
		ensure_context "$e"
		check_engine "$e"
	done
	cat <<EOF
==> environment up
    buildkit:  BUILDKIT_HOST=$LAINGFILE_SOCK  (buildctl --addr $LAINGFILE_SOCK debug workers)
    registry:  http://$LAINGFILE_REGISTRY  (push to $LAINGFILE_REGISTRY/NAME:TAG; plain http)
    nix cache: http://$LAINGFILE_BINARY_CACHE_ADDR/{signed,unsigned} public, /private and /push/NAME with the
               token in $LAINGFILE_BINARY_CACHE_TOKEN (HTTP Basic, any user); made by hack/binary-cache.sh
    buildx:    docker buildx build --builder $LAINGFILE_BUILDER ...  (or BUILDX_BUILDER=$LAINGFILE_BUILDER)
    engines:   docker --context laingfile-classic buildx build ...     (classic image store)
               docker --context laingfile-containerd buildx build ...  (containerd image store)
               default builders (buildx's docker driver); bridges lf-classic, lf-containerd (no NAT)
    logs:      $LAINGFILE_LOGS/{buildkitd,registry,binarycache,docker-classic,docker-containerd}.log
    stop:      hack/env.sh down
EOF
}

cmd_status() {
	local pid ok=0
	if pid=$(pid_of registry) && registry_answers; then
		echo "registry:   running  pid $pid  http://$LAINGFILE_REGISTRY"
	else
		echo "registry:   not running"
		ok=1
	fi
	if pid=$(pid_of buildkitd) && buildkitd_answers >/dev/null 2>&1; then
		echo "buildkitd:  running  pid $pid  $LAINGFILE_SOCK  platforms $(platforms | paste -sd' ')"
	else
		echo "buildkitd:  not running"
		ok=1
	fi
	if [[ -e $BINFMT/qemu-aarch64 ]]; then
		echo "binfmt:     qemu-aarch64 $(head -n1 "$BINFMT/qemu-aarch64")"
	else
		echo "binfmt:     qemu-aarch64 not registered"
		ok=1
	fi
	if builder_exists; then
		echo "buildx:     builder $LAINGFILE_BUILDER -> $LAINGFILE_SOCK"
	else
		echo "buildx:     no builder $LAINGFILE_BUILDER"
		ok=1
	fi
	if pid=$(pid_of binarycache) && binary_cache_answers; then
		echo "binarycache: running  pid $pid  http://$LAINGFILE_BINARY_CACHE_ADDR"
	else
		echo "binarycache: not running"
		ok=1
	fi
	if [[ -f $LAINGFILE_BINARY_CACHE/keys/public ]]; then
		echo "            caches $LAINGFILE_BINARY_CACHE, key $(<"$LAINGFILE_BINARY_CACHE/keys/public")"
	else
		echo "            no caches in $LAINGFILE_BINARY_CACHE; run hack/binary-cache.sh"
		ok=1
	fi
	local e name ctx store
	for e in "${LAINGFILE_ENGINES[@]}"; do
		name=$(engine_daemon "$e")
		ctx=$(engine_context "$e")
		if pid=$(pid_of "$name") && store=$(engine_store "$e"); then
			echo "$name:  running  pid $pid  unix://$(engine_sock "$e")  $store image store"
		else
			echo "$name:  not running"
			ok=1
		fi
		if [[ $(context_host "$ctx") == "unix://$(engine_sock "$e")" ]]; then
			echo "            context $ctx, builder $ctx (docker driver)  platforms $(engine_platforms "$e")"
		else
			echo "            no docker context $ctx -> unix://$(engine_sock "$e")"
			ok=1
		fi
	done
	return $ok
}

cmd_down() {
	local out e
	need_root
	for e in "${LAINGFILE_ENGINES[@]}"; do
		stop_engine "$e"
	done
	if [[ -e $MARK_BUILDER_CREATED ]]; then
		if builder_exists; then
			log "removing buildx builder $LAINGFILE_BUILDER"
			out=$(docker buildx rm "$LAINGFILE_BUILDER" 2>&1) || die "docker buildx rm $LAINGFILE_BUILDER: $out"
		fi
		rm -f "$MARK_BUILDER_CREATED"
	fi
	stop_daemon binarycache
	rm -rf "$BINARY_CACHE_PUSH"
	stop_daemon buildkitd remove_build_containers
	remove_build_containers
	stop_daemon registry
	unmount_leftovers
	rm -f "$SOCK_PATH"
	if [[ -e $MARK_QEMU_REGISTERED ]]; then
		if [[ -e $BINFMT/qemu-aarch64 ]]; then
			log "unregistering qemu-aarch64"
			echo -1 >"$BINFMT/qemu-aarch64"
		fi
		rm -f "$MARK_QEMU_REGISTERED"
	fi
	if [[ -e $MARK_QEMU_REFLAGGED ]]; then
		log "registering qemu-aarch64 again without the C flag, as it was"
		[[ -e $BINFMT/qemu-aarch64 ]] && echo -1 >"$BINFMT/qemu-aarch64"
		qemu_registration >"$BINFMT/register"
		rm -f "$MARK_QEMU_REFLAGGED"
	fi
	if [[ -e $MARK_BINFMT_MOUNTED ]]; then
		if mountpoint -q "$BINFMT"; then
			log "unmounting $BINFMT"
			umount "$BINFMT"
		fi
		rm -f "$MARK_BINFMT_MOUNTED"
	fi
	log "environment down"
}

case ${1:-} in
up) cmd_up ;;
status) cmd_status ;;
down) cmd_down ;;
*) die "usage: $0 up|status|down" ;;
esac
