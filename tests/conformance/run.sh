#!/usr/bin/env bash
# `make conformance`: the official MCP conformance suite against molecule-mcp.
#
# Server scenarios: suite -> Streamable HTTP -> supergateway (a bridge that
# relays messages unchanged) -> stdio -> molecule-mcp (gateway-only mode)
# -> stdio -> the conformance_upstream fixture, offered under its own names
# (`prefix: ""`).
# Client scenarios: the suite's test server is molecule-mcp's one HTTP
# upstream; conformance_client drives molecule-mcp over stdio.
#
# Each kind's pass count is printed. tests/conformance/expected.txt says
# which scenarios pass today; one of them failing fails the run.
set -uo pipefail
cd "$(dirname "$0")/../.."

DIR=${CONFORMANCE_DIR:-target/conformance}
BIN=${CONFORMANCE_BIN:-target/debug}
NODE_BIN="$PWD/$DIR/node_modules/.bin"
export PATH="$NODE_BIN:$PATH"
EXPECTED=tests/conformance/expected.txt
OUT="$DIR/results"
WORK=$(mktemp -d)
BRIDGE_PID=
cleanup() {
    if [ -n "$BRIDGE_PID" ]; then kill "$BRIDGE_PID" 2>/dev/null; wait "$BRIDGE_PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$OUT"
mkdir -p "$OUT"
start=$(date +%s)

cat > "$WORK/servers.json" <<JSON
{"mcpServers": {"conformance": {"command": "$PWD/$BIN/examples/conformance_upstream", "prefix": ""}}}
JSON

# A free loopback port for the bridge.
PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
env -u PLATFORM_URL -u WORKSPACE_ID -u MOLECULE_WORKSPACE_TOKEN -u MOLECULE_WORKSPACE_TOKEN_FILE \
    -u MOLECULE_WORKSPACES CONFIGS_DIR="$WORK" \
    supergateway --stdio "$PWD/$BIN/molecule-mcp --servers $WORK/servers.json" \
    --outputTransport streamableHttp --stateful --port "$PORT" --logLevel none \
    >"$OUT/bridge.log" 2>&1 &
BRIDGE_PID=$!
for _ in $(seq 1 100); do
    node -e 'const c=require("net").connect(+process.argv[1],"127.0.0.1",()=>process.exit(0));c.on("error",()=>process.exit(1))' "$PORT" && break
    sleep 0.1
done

conformance server --url "http://127.0.0.1:$PORT/mcp" --suite active \
    -o "$OUT/server" >"$OUT/server.txt" 2>&1
# Progress must arrive before each result every time, not most times.
progress_runs=${CONFORMANCE_PROGRESS_RUNS:-50}
progress_ok=0
for _ in $(seq 1 "$progress_runs"); do
    if conformance server --url "http://127.0.0.1:$PORT/mcp" --scenario tools-call-with-progress \
        >"$WORK/progress.txt" 2>&1 && grep -qE '^Passed: [0-9]+/[0-9]+, 0 failed' "$WORK/progress.txt"; then
        progress_ok=$((progress_ok + 1))
    else
        cp "$WORK/progress.txt" "$OUT/progress-failure.txt"
    fi
done
if [ "$progress_ok" = "$progress_runs" ]; then
    echo "server tools-call-with-progress-x$progress_runs pass" >>"$WORK/seen"
else
    echo "server tools-call-with-progress-x$progress_runs fail" >>"$WORK/seen"
fi
echo "conformance: tools-call-with-progress passed $progress_ok of $progress_runs runs in a row"

# `✓ name: ...` / `✗ name: ...`, one line per scenario.
sed -n 's/^\([✓✗]\) \([^:]*\):.*/\2 \1/p' "$OUT/server.txt" |
    sed 's/ ✓$/ pass/; s/ ✗$/ fail/; s/^/server /' >>"$WORK/seen"

# The client scenarios of this issue; `auth/*` are not in scope yet.
for scenario in initialize tools_call elicitation-sep1034-client-defaults sse-retry; do
    conformance client --command "$PWD/$BIN/examples/conformance_client" --scenario "$scenario" \
        -o "$OUT/client" >"$OUT/client-$scenario.txt" 2>&1
    if grep -qE '^Passed: [0-9]+/[0-9]+, 0 failed' "$OUT/client-$scenario.txt"; then
        echo "client $scenario pass" >>"$WORK/seen"
    else
        echo "client $scenario fail" >>"$WORK/seen"
    fi
done
end=$(date +%s)
cp "$WORK/seen" "$OUT/seen.txt"

# Compare with the committed expectations: every scenario listed there must
# have run; one expected to pass that failed is a regression.
status=0
while read -r kind scenario expected reason; do
    case "$kind" in ''|'#'*) continue ;; esac
    got=$(awk -v k="$kind" -v s="$scenario" '$1 == k && $2 == s {print $3}' "$WORK/seen")
    if [ -z "$got" ]; then
        echo "conformance: $kind $scenario did not run"
        status=1
    elif [ "$expected" = pass ] && [ "$got" = fail ]; then
        echo "conformance: REGRESSION: $kind $scenario fails (see $OUT/)"
        status=1
    elif [ "$expected" = fail ] && [ "$got" = pass ]; then
        echo "conformance: $kind $scenario now passes: mark it pass in $EXPECTED"
    fi
done <"$EXPECTED"
while read -r kind scenario got; do
    if ! awk -v k="$kind" -v s="$scenario" '$1 == k && $2 == s {found=1} END {exit !found}' "$EXPECTED"; then
        echo "conformance: $kind $scenario ($got) is not in $EXPECTED: add it"
        [ "$got" = pass ] || status=1
    fi
done <"$WORK/seen"
for kind in server client; do
    total=$(awk -v k="$kind" '$1 == k' "$WORK/seen" | wc -l)
    passing=$(awk -v k="$kind" '$1 == k && $3 == "pass"' "$WORK/seen" | wc -l)
    expected=$(awk -v k="$kind" '$1 == k && $3 == "pass"' "$EXPECTED" | wc -l)
    echo "conformance $kind scenarios: $passing of $total pass ($expected expected to)"
done
echo "conformance: the suite ran in $((end - start)) s; details in $OUT/"
exit $status
