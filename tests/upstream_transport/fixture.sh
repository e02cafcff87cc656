# A scriptable MCP server on stdio for the transport tests. POSIX sh only,
# so the tests need nothing but sh, head and tr.
#
# The method picks the behaviour:
#   initialize  answers like an MCP server (protocol 2025-06-18)
#   echo        answers {"tag": N} with the request's params.tag
#   collect     holds answers until $COLLECT (default 50) requests arrived,
#               then answers them all, the last one first
#   hang        never answers
#   fail        answers a JSON-RPC error -32602
#   garbage     prints junk first (not JSON, not UTF-8, a 20 MiB line, an
#               answer to an id nobody asked for, JSON that is not JSON-RPC),
#               then answers like echo
#   flood       prints 3000 notifications/progress, then answers like echo
#   ask         asks us `ping` (id "s1") and `roots/list` (id "s2"), then
#               answers {"ping_ok": 0|1, "roots_refused": 0|1}
#   anything else: error -32601
# Every line received is appended to $RECORD when it is set.

record=${RECORD:-/dev/null}
collected=""
count=0
asked=0
ping_ok=0

answer() {
    printf '{"jsonrpc":"2.0","id":%s,"result":{"tag":%s}}\n' "$1" "$2"
}

while IFS= read -r line; do
    printf '%s\n' "$line" >> "$record"
    case $line in
        *'"id":"s1"'*)
            case $line in *'"result":{}'*) ping_ok=1 ;; esac
            continue ;;
        *'"id":"s2"'*)
            refused=0
            case $line in *'-32601'*) refused=1 ;; esac
            printf '{"jsonrpc":"2.0","id":%s,"result":{"ping_ok":%s,"roots_refused":%s}}\n' \
                "$asked" "$ping_ok" "$refused"
            continue ;;
        *'"id":'*) ;;
        *) continue ;;
    esac
    id=${line#*'"id":'}
    id=${id%%[!0-9]*}
    tag=0
    case $line in
        *'"tag":'*) tag=${line#*'"tag":'}; tag=${tag%%[!0-9]*} ;;
    esac
    case $line in
        *'"method":"initialize"'*)
            printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"fixture","version":"1"}}}\n' "$id" ;;
        *'"method":"echo"'*)
            answer "$id" "$tag" ;;
        *'"method":"collect"'*)
            collected="$id:$tag $collected"
            count=$((count + 1))
            if [ "$count" -ge "${COLLECT:-50}" ]; then
                for held in $collected; do
                    answer "${held%%:*}" "${held#*:}"
                done
                collected=""
                count=0
            fi ;;
        *'"method":"hang"'*) ;;
        *'"method":"fail"'*)
            printf '{"jsonrpc":"2.0","id":%s,"error":{"code":-32602,"message":"bad tag"}}\n' "$id" ;;
        *'"method":"garbage"'*)
            echo "a banner, not JSON"
            printf '\377\376 not UTF-8\n'
            head -c 20971520 /dev/zero | tr '\0' x
            echo
            printf '{"jsonrpc":"2.0","id":999999,"result":{}}\n'
            echo '[1,2]'
            echo '{"jsonrpc":"2.0"}'
            answer "$id" "$tag" ;;
        *'"method":"flood"'*)
            n=0
            while [ "$n" -lt 3000 ]; do
                printf '{"jsonrpc":"2.0","method":"notifications/progress","params":{"n":%s}}\n' "$n"
                n=$((n + 1))
            done
            answer "$id" "$tag" ;;
        *'"method":"ask"'*)
            asked=$id
            echo '{"jsonrpc":"2.0","id":"s1","method":"ping"}'
            echo '{"jsonrpc":"2.0","id":"s2","method":"roots/list"}' ;;
        *)
            printf '{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"no such method"}}\n' "$id" ;;
    esac
done
