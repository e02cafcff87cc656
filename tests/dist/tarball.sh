#!/usr/bin/env bash
# Checks the release tarball `make dist` made: its checksum file, exactly the
# files it promises, and a binary that runs from it and names its build.
# Usage: tests/dist/tarball.sh DIST_DIR NAME VERSION
set -euo pipefail
. "$(dirname "$0")/common.sh"
dist=$1 name=$2 version=$3

(cd "$dist" && sha256sum --check --quiet "$name.tar.gz.sha256") || fail "checksum of $name.tar.gz"

want=$(printf '%s\n' "$name/" "$name/LICENSE-APACHE" "$name/LICENSE-MIT" "$name/README.md" "$name/molecule-mcp")
got=$(tar -tzf "$dist/$name.tar.gz" | sort)
[ "$got" = "$want" ] || fail "$name.tar.gz holds:
$got
expected:
$want"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$dist/$name.tar.gz" -C "$tmp"
[ -x "$tmp/$name/molecule-mcp" ] || fail "molecule-mcp in the tarball is not executable"
check_version "$tmp/$name/molecule-mcp" "$version"
size=$(stat -c %s "$tmp/$name/molecule-mcp")
# The shipped binary's size goal: 4 MiB, stripped, rustls included.
[ "$size" -le $((4 * 1024 * 1024)) ] || fail "molecule-mcp is $size bytes, over the 4 MiB goal"
echo "ok: $dist/$name.tar.gz (molecule-mcp: $size bytes)"
