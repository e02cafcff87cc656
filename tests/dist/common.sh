# What the artifact checks share: failing loudly, and the --version line a
# binary built from this checkout must print.

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# "molecule-mcp VERSION (commit HASH)", the commit as build.rs names it.
expected_version_line() {
    local commit
    commit=$(git rev-parse --short HEAD 2>/dev/null) || commit=unknown
    echo "molecule-mcp $1 (commit $commit)"
}

# Runs `$1 --version` (bounded) and compares it with the expected line.
check_version() {
    local got want
    got=$(timeout 10 "$1" --version) || fail "$1 --version failed"
    want=$(expected_version_line "$2")
    [ "$got" = "$want" ] || fail "$1 --version printed '$got', expected '$want'"
}
