#!/usr/bin/env bash
# Builds the two Go programs the end-to-end tests and the production how-to run, from the Go
# module proxy, into a cache outside the repository:
#
#   $TOKENTRACE_BIN_DIR/otelcol-tokentrace   our minimal collector (OCB, collector/manifest.yaml)
#   $TOKENTRACE_BIN_DIR/jaeger               Jaeger v2 (github.com/jaegertracing/jaeger/cmd/jaeger)
#
# TOKENTRACE_BIN_DIR defaults to ~/.cache/tokentrace/bin. A binary is rebuilt only when its
# stamp (a hash of this script, the manifest, the pinned versions and the Go version) changes,
# so a second run costs a second. Prints how long each build took.
#
# Usage: collector/build.sh [--force]
set -euo pipefail

# Pinned versions. OCB and the collector components move together (see manifest.yaml).
# v0.161.0, not newer: this machine's module proxy refuses (403) the loadbalancing exporter
# (opentelemetry-collector-contrib/exporter/loadbalancingexporter) at v0.162.0-v0.165.0.
OCB_MODULE="go.opentelemetry.io/collector/cmd/builder"
OCB_VERSION="v0.161.0"
# Jaeger v2 is released from the root module, whose v2.x tags are not valid Go module
# versions; its v1.76.0 tag (= Jaeger v2.13.0) is the newest version this machine's module
# proxy serves. Its go.mod has a replace directive, so `go install module@version` refuses
# it: we build inside a copy of the module, where the replace applies. Set
# TOKENTRACE_JAEGER_VERSION to a pseudo-version of a later commit to build that instead.
JAEGER_MODULE="github.com/jaegertracing/jaeger"
JAEGER_VERSION="${TOKENTRACE_JAEGER_VERSION:-v1.76.0}"

here="$(cd "$(dirname "$0")" && pwd)"
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/tokentrace"
bin_dir="${TOKENTRACE_BIN_DIR:-$cache_dir/bin}"
work_dir="$cache_dir/build"
force=0
[[ "${1:-}" == "--force" ]] && force=1

if ! command -v go >/dev/null 2>&1; then
    echo "collector/build.sh: Go is not installed; cannot build the collector and Jaeger" >&2
    exit 1
fi
mkdir -p "$bin_dir" "$work_dir"
go_version="$(go env GOVERSION)"

# One build at a time per cache (parallel test runs, CI and a developer may all call this).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache_dir/build.lock"
    flock 9
fi

stamp_of() {  # stamp_of NAME EXTRA... -> hash of this script, Go version and EXTRA
    { cat "$here/build.sh"; echo "$go_version"; printf '%s\n' "$@"; } | sha256sum | cut -c1-32
}

is_fresh() {  # is_fresh BINARY STAMP
    [[ $force -eq 0 && -x "$1" && -f "$1.stamp" && "$(cat "$1.stamp")" == "$2" ]]
}

build_collector() {
    local binary="$bin_dir/otelcol-tokentrace"
    local stamp
    stamp="$(stamp_of collector "$OCB_VERSION" "$(cat "$here/manifest.yaml")")"
    if is_fresh "$binary" "$stamp"; then
        echo "otelcol-tokentrace: cached ($binary)"
        return
    fi
    local started=$SECONDS
    local tools="$cache_dir/tools/$OCB_VERSION"
    if [[ ! -x "$tools/builder" ]]; then
        GOBIN="$tools" go install "$OCB_MODULE@$OCB_VERSION"
    fi
    local dir="$work_dir/collector"
    rm -rf "$dir" && mkdir -p "$dir"
    # output_path in the manifest is relative: run the builder in the cache build directory.
    (cd "$dir" && "$tools/builder" --config "$here/manifest.yaml")
    install -m 0755 "$dir/dist/otelcol-tokentrace" "$binary"
    echo "$stamp" >"$binary.stamp"
    echo "otelcol-tokentrace: built in $((SECONDS - started)) s ($binary)"
}

build_jaeger() {
    local binary="$bin_dir/jaeger"
    local stamp
    stamp="$(stamp_of jaeger "$JAEGER_MODULE@$JAEGER_VERSION")"
    if is_fresh "$binary" "$stamp"; then
        echo "jaeger: cached ($binary)"
        return
    fi
    local started=$SECONDS
    local source
    source="$(cd "$work_dir" && GOFLAGS=-mod=mod go mod download -json "$JAEGER_MODULE@$JAEGER_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    if [[ -z "$source" ]]; then
        echo "collector/build.sh: could not download $JAEGER_MODULE@$JAEGER_VERSION" >&2
        exit 1
    fi
    # The module cache is read-only; build in a writable copy where jaeger's go.mod (and its
    # replace directive) is the main module's.
    local dir="$work_dir/jaeger"
    rm -rf "$dir" && cp -r "$source" "$dir" && chmod -R u+w "$dir"
    (cd "$dir" && go build -trimpath -ldflags="-s -w" -o "$binary.tmp" ./cmd/jaeger)
    mv "$binary.tmp" "$binary"
    echo "$stamp" >"$binary.stamp"
    rm -rf "$dir"
    echo "jaeger: built $JAEGER_VERSION in $((SECONDS - started)) s ($binary)"
}

build_collector
build_jaeger
