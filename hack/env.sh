#!/usr/bin/env bash
# Starts, reports on and stops the local test environment: a registry on
# 127.0.0.1:5000, buildkitd on unix:///run/laingfile/buildkitd.sock with an arm64
# emulator registered, and the buildx builder "laingfile" pointing at it.
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

need_tools() {
	local b
	for b in buildkitd buildctl registry runc; do
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

# unmount_leftovers unmounts anything still mounted under the state dir, deepest
# first; a buildkitd that died uncleanly leaves its overlay mounts behind.
unmount_leftovers() {
	local m
	awk -v root="$LAINGFILE_STATE/" 'index($5, root) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
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
	cat <<EOF
==> environment up
    buildkit:  BUILDKIT_HOST=$LAINGFILE_SOCK  (buildctl --addr $LAINGFILE_SOCK debug workers)
    registry:  http://$LAINGFILE_REGISTRY  (push to $LAINGFILE_REGISTRY/NAME:TAG; plain http)
    buildx:    docker buildx build --builder $LAINGFILE_BUILDER ...  (or BUILDX_BUILDER=$LAINGFILE_BUILDER)
    logs:      $LAINGFILE_LOGS/{buildkitd,registry}.log
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
	return $ok
}

cmd_down() {
	local out
	need_root
	if [[ -e $MARK_BUILDER_CREATED ]]; then
		if builder_exists; then
			log "removing buildx builder $LAINGFILE_BUILDER"
			out=$(docker buildx rm "$LAINGFILE_BUILDER" 2>&1) || die "docker buildx rm $LAINGFILE_BUILDER: $out"
		fi
		rm -f "$MARK_BUILDER_CREATED"
	fi
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
