"""Drives `kubectl ai mcp` with the official MCP Python SDK (PyPI `mcp`), over stdio and streamable
HTTP, and prints what it saw as one JSON document for tests/mcp.rs to judge. It asserts nothing
itself: the Rust test does, so a failure names what was wrong.

Usage: client.py CONFIG.json, where the config holds the binary, its environment, the fake API's
URL and the objects to use (see tests/mcp.rs).
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

try:
    import httpx2 as httpx
except ImportError:  # older SDKs use httpx itself
    import httpx

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


def result(r):
    """A tool result as plain data: error flag, text, structured content."""
    text = "\n".join(c.text for c in r.content if getattr(c, "type", "") == "text")
    return {"error": bool(r.is_error), "text": text, "structured": r.structured_content}


async def call(session, name, args):
    return result(await session.call_tool(name, args))


async def tools(session):
    listed = await session.list_tools()
    return [
        {
            "name": t.name,
            "inputSchema": t.input_schema,
            "annotations": t.annotations.model_dump(by_alias=True, exclude_none=True) if t.annotations else None,
        }
        for t in listed.tools
    ]


def patch(cfg, path, body, content_type="application/merge-patch+json"):
    """Changes an object behind the server's back, as another client of the cluster would."""
    req = urllib.request.Request(
        cfg["api"] + path,
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Content-Type": content_type, "Authorization": "Bearer fake-token"},
    )
    with urllib.request.urlopen(req) as resp:
        return resp.status


def server(cfg, *extra):
    args = ["mcp", "--kubeconfig", cfg["kubeconfig"], *cfg["args"], *extra]
    return StdioServerParameters(command=cfg["binary"], args=args, env=cfg["env"])


def scale(replicas):
    d = "deployment " + DEPLOYMENT
    return {
        "actions": [{"type": "scale", "kind": "Deployment", "name": DEPLOYMENT, "replicas": replicas}],
        "reason": f"the operator asked: scale {d} to {replicas} replicas",
    }


DEPLOYMENT = "todo-backend"


async def read_only(cfg, errlog):
    """A server without --allow-writes: every read tool, a plan proposed, apply_plan absent."""
    out = {}
    async with stdio_client(server(cfg), errlog=errlog) as (r, w):
        async with ClientSession(r, w) as s:
            init = await s.initialize()
            out["protocol"] = init.protocol_version
            out["server"] = init.server_info.name
            out["tools"] = await tools(s)
            calls = out["calls"] = {}
            calls["diagnose"] = await call(s, "diagnose", {})
            calls["diagnose_target"] = await call(s, "diagnose", {"target": "deployment/" + DEPLOYMENT})
            calls["list_problems"] = await call(s, "list_problems", {"min_severity": "warning"})
            calls["explain_object"] = await call(s, "explain_object", {"kind": "deploy", "name": DEPLOYMENT})
            calls["explain_pod"] = await call(s, "explain_object", {"kind": "pod", "name": cfg["canary_pod"]})
            calls["recommend"] = await call(s, "recommend", {})
            calls["recommend_inline"] = await call(s, "recommend", {"manifests": cfg["manifest"]})
            calls["get_logs"] = await call(
                s, "get_logs", {"pod": cfg["log_pod"], "container": cfg["log_container"], "lines": 2000, "bytes": 262144}
            )
            calls["propose_plan"] = await call(s, "propose_plan", scale(3))
            plan_id = (calls["propose_plan"]["structured"] or {}).get("planId") or "none"
            calls["apply_plan"] = await call(s, "apply_plan", {"plan_id": plan_id})
            calls["bad_argument"] = await call(s, "diagnose", {"bogus": True})
            calls["bad_target"] = await call(s, "explain_object", {"kind": "deployment", "name": "no-such-thing"})
            calls["still_alive"] = await call(s, "list_problems", {})
            prompts = await s.list_prompts()
            out["prompts"] = [p.name for p in prompts.prompts]
            got = await s.get_prompt("troubleshoot", {"target": "deployment/" + DEPLOYMENT, "namespace": "todo-app"})
            out["troubleshoot"] = "\n".join(m.content.text for m in got.messages)
    return out


async def writes(cfg, errlog):
    """A server with --allow-writes: unknown and stale plan ids refused, a fresh one applied once."""
    out = {}
    async with stdio_client(server(cfg, "--allow-writes"), errlog=errlog) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            out["tools"] = await tools(s)
            out["unknown"] = await call(s, "apply_plan", {"plan_id": "plan-1-0123456789abcdef"})
            stale = await call(s, "propose_plan", scale(3))
            out["stale_proposed"] = stale
            out["changed_behind"] = patch(
                cfg,
                f"/apis/apps/v1/namespaces/todo-app/deployments/{DEPLOYMENT}",
                {"metadata": {"labels": {"changed-by": "someone-else"}}},
            )
            out["stale"] = await call(s, "apply_plan", {"plan_id": stale["structured"]["planId"]})
            fresh = await call(s, "propose_plan", scale(3))
            out["fresh_proposed"] = fresh
            out["applied"] = await call(s, "apply_plan", {"plan_id": fresh["structured"]["planId"]})
            out["again"] = await call(s, "apply_plan", {"plan_id": fresh["structured"]["planId"]})
            doomed = await call(
                s,
                "propose_plan",
                {
                    "actions": [{"type": "delete", "kind": "Deployment", "name": DEPLOYMENT}],
                    "reason": f"the operator asked: delete deployment {DEPLOYMENT}",
                },
            )
            out["delete_proposed"] = doomed
            doomed_id = (doomed["structured"] or {}).get("planId") or "none"
            out["delete"] = await call(s, "apply_plan", {"plan_id": doomed_id})
    return out


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def over_http(cfg, errlog):
    """Streamable HTTP on loopback with a bearer token: refused without it, served with it."""
    out = {}
    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".token", delete=False) as f:
        f.write(cfg["token"] + "\n")
        token_file = f.name
    argv = [cfg["binary"], "mcp", "--kubeconfig", cfg["kubeconfig"], *cfg["args"],
            "--http", f"127.0.0.1:{port}", "--token-file", token_file]
    proc = subprocess.Popen(argv, env={**os.environ, **cfg["env"]}, stdout=subprocess.DEVNULL, stderr=errlog)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        req = urllib.request.Request(url, data=b"{}", method="POST", headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req)
            out["without_token"] = 200
        except urllib.error.HTTPError as e:
            out["without_token"] = e.code
        headers = {"Authorization": "Bearer " + cfg["token"]}
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:
            async with streamable_http_client(url, http_client=client) as streams:
                r, w = streams[0], streams[1]
                async with ClientSession(r, w) as s:
                    init = await s.initialize()
                    out["protocol"] = init.protocol_version
                    out["tools"] = await tools(s)
                    out["diagnose"] = await call(s, "diagnose", {"target": "deployment/" + DEPLOYMENT})
                    out["bad_argument"] = await call(s, "get_logs", {})
                    out["still_alive"] = await call(s, "list_problems", {})
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        os.unlink(token_file)
    return out


async def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    with open(cfg["stderr"], "w") as errlog:
        report = {
            "read_only": await read_only(cfg, errlog),
            "writes": await writes(cfg, errlog),
            "http": await over_http(cfg, errlog),
        }
    json.dump(report, sys.stdout)


asyncio.run(main())
