#!/usr/bin/env python3
"""A tiny stdio MCP server for the stdio-proxy tests: tools echo, crash (exits at once) and
slow (never answers). Newline-delimited JSON-RPC on stdin/stdout; it says hello on stderr."""
import json
import os
import sys

sys.stderr.write(f"crashy fixture ready pid={os.getpid()}\n")
sys.stderr.flush()

TOOLS = [{"name": n, "description": d, "inputSchema": {"type": "object"}}
         for n, d in (("echo", "echo a message"), ("crash", "exit at once"), ("slow", "never answer"))]


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    if not line.strip():
        continue
    msg = json.loads(line)
    method, mid = msg.get("method"), msg.get("id")
    if mid is None or method is None:
        continue  # notifications and responses
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "protocolVersion": msg["params"].get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}}, "serverInfo": {"name": "crashy", "version": "1"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        name = msg["params"]["name"]
        args = msg["params"].get("arguments", {})
        if name == "crash":
            sys.stderr.write("crashy fixture: crashing on purpose\n")
            sys.stderr.flush()
            os._exit(3)
        if name == "slow":
            continue
        if name != "echo":
            send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": f"Unknown tool: {name}"}})
            continue
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "content": [{"type": "text", "text": f"{args.get('message', '')} (pid {os.getpid()})"}]}})
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": mid, "result": {}})
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "Method not found"}})
