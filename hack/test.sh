#!/usr/bin/env bash
# Runs every test: the unit tests and the end-to-end tests against a real buildkitd, buildx,
# registry and Nix. It installs and starts what is missing first (all idempotent), so it works
# on a fresh machine; the environment stays up afterwards (hack/env.sh down stops it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
hack/setup.sh
log "go test ./..."
# One package at a time: the end-to-end packages share one buildkitd on two cores.
go test -count=1 -p 1 -timeout 60m "$@" ./...

# Then every fuzz target of the module for a bounded time: the go test above only replays their
# seed corpora. An input that fails is saved under the package's testdata/fuzz/ (commit it, so
# that it becomes a seed). LAINGFILE_FUZZTIME sets the time per target; minimizing an input is
# capped too, or minimizing the new inputs it finds (60s each by default) takes the whole time.
fuzztime=${LAINGFILE_FUZZTIME:-12s}
packages=$(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
while read -r pkg dir; do
	for file in "$dir"/*_test.go; do
		[[ -f $file ]] || continue
		for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
			log "go test -fuzz $name $pkg (for $fuzztime)"
			go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" -fuzzminimizetime 3s "$pkg" </dev/null
		done
	done
done <<<"$packages"
