"""One MCP session through the installed `molecule-mcp`: initialize,
tools/list (the original 15 platform tools among them), stdin closed, exit 0. The platform is
never reached (heartbeat and inbox off), so nothing but the binary runs.
Usage: python session.py COMMAND"""

import json
import os
import subprocess
import sys
import threading

TOOLS = {
    "delegate_task", "delegate_task_async", "check_task_status", "list_peers",
    "get_workspace_info", "get_runtime_identity", "update_agent_card",
    "broadcast_message", "send_message_to_user", "wait_for_message",
    "inbox_peek", "inbox_pop", "chat_history", "commit_memory", "recall_memory",
}
WAIT = 15


def main(command):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "WORKSPACE_ID": "00000000-0000-0000-0000-000000000000",
        "PLATFORM_URL": "http://127.0.0.1:9",
        "MOLECULE_WORKSPACE_TOKEN": "wheel-test-token-1234",
        "MOLECULE_MCP_DISABLE_HEARTBEAT": "1",
        "MOLECULE_MCP_DISABLE_INBOX": "1",
    }
    proc = subprocess.Popen([command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    try:
        init = exchange(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "wheel-test", "version": "1"}}})
        assert init["result"]["serverInfo"]["name"], init
        send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        listed = exchange(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        names = {tool["name"] for tool in listed["result"]["tools"]}
        assert TOOLS <= names, f"missing tools: {sorted(TOOLS - names)}"
        proc.stdin.close()
        code = proc.wait(timeout=WAIT)
        assert code == 0, f"exit {code}; stderr:\n{proc.stderr.read()}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def send(proc, message):
    proc.stdin.write(json.dumps(message) + "\n")
    proc.stdin.flush()


def exchange(proc, request):
    """Sends a request and returns the answer with its id, within WAIT s."""
    send(proc, request)
    answer = {}

    def read():
        for line in proc.stdout:
            message = json.loads(line)
            if message.get("id") == request["id"]:
                answer.update(message)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(WAIT)
    assert answer, f"no answer to {request['method']} within {WAIT} s"
    return answer


if __name__ == "__main__":
    main(sys.argv[1])
    print("session ok")
