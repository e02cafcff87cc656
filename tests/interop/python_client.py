"""Interoperability check: the official MCP Python SDK as the client.

Usage: python_client.py BINARY PLATFORM_URL WORKSPACE_ID TOKEN CONFIGS_DIR
Starts BINARY over stdio with the SDK, runs initialize, list_tools and
call_tool, and prints one JSON object with what it saw. Any exception is a
non-zero exit with the traceback on stderr.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.types import LATEST_PROTOCOL_VERSION
from mcp.client.stdio import stdio_client


async def main() -> None:
    binary, url, workspace, token, configs = sys.argv[1:6]
    params = StdioServerParameters(
        command=binary,
        args=[],
        env={
            "PLATFORM_URL": url,
            "WORKSPACE_ID": workspace,
            "MOLECULE_WORKSPACE_TOKEN": token,
            "CONFIGS_DIR": configs,
            "MOLECULE_MCP_POLL_SECS": "0.2",
        },
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            identity = await session.call_tool("get_runtime_identity", {})
            peers = await session.call_tool("list_peers", {})
            unknown = await session.call_tool("inbox_pop", {"activity_id": "no-such-id"})
            report = {
                "server_name": init.serverInfo.name,
                "protocol_version": init.protocolVersion,
                "client_version": LATEST_PROTOCOL_VERSION,
                "has_instructions": bool(init.instructions),
                "tools_list_changed": bool(init.capabilities.tools and init.capabilities.tools.listChanged),
                "tools": sorted(t.name for t in tools.tools),
                "schemas_are_objects": all(t.inputSchema.get("type") == "object" for t in tools.tools),
                "identity_text": identity.content[0].text if identity.content else "",
                "identity_is_error": bool(identity.isError),
                "peers_text": peers.content[0].text if peers.content else "",
                "peers_is_error": bool(peers.isError),
                "pop_text": unknown.content[0].text if unknown.content else "",
            }
            print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main())
