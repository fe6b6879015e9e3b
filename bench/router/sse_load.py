#!/usr/bin/env python3
"""
Memory per SSE stream through a proxy: opens N concurrent GET streams through the proxy to an
SSE upstream served by this same process (asyncio), waits until every stream has delivered its
first event, samples the proxy's RSS (VmRSS from /proc), then closes everything.

  sse_load.py --proxy-port P --host HOST --token T --upstream-port U --pid PID [--streams N]

Prints one line: "streams=N rss_idle_kb=A rss_streams_kb=B per_stream_kb=C".
The upstream must already be configured in the proxy as http://127.0.0.1:U (this script
listens there). Not a test: a measurement for bench/router/run.
"""
import argparse
import asyncio
import sys


def rss_kb(pids):
    """Sum of VmRSS (kB) over a comma-separated list of PIDs."""
    total = 0
    for pid in str(pids).split(","):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


async def upstream(reader, writer):
    try:
        while True:  # read the request head
            line = await reader.readline()
            if not line or line in (b"\r\n", b"\n"):
                break
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        event = b"data: {\"hello\": true}\n\n"
        writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        await writer.drain()
        await reader.read()  # until the proxy hangs up
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def client(args, opened, release):
    reader, writer = await asyncio.open_connection("127.0.0.1", args.proxy_port)
    writer.write(f"GET {args.path} HTTP/1.1\r\nHost: {args.host}\r\nAccept: text/event-stream\r\n"
                 f"Authorization: Bearer {args.token}\r\n\r\n".encode())
    await writer.drain()
    buf = b""
    while b"hello" not in buf:
        chunk = await reader.read(4096)
        if not chunk:
            raise RuntimeError(f"stream closed early: {buf[:200]!r}")
        buf += chunk
    opened.append(1)
    await release.wait()
    writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy-port", type=int, required=True)
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--path", default="/mcp")
    ap.add_argument("--token", default="")
    ap.add_argument("--pid", required=True, help="PID, or comma-separated PIDs whose RSS is summed")
    ap.add_argument("--streams", type=int, default=1000)
    args = ap.parse_args()
    server = await asyncio.start_server(upstream, "127.0.0.1", args.upstream_port, backlog=4096)
    # warm the proxy up with a few streams, so lazily created per-worker state is in the idle figure
    release = asyncio.Event()
    opened = []
    warm = [asyncio.create_task(client(args, opened, release)) for _ in range(8)]
    while len(opened) < len(warm):
        await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(*warm)
    await asyncio.sleep(0.5)
    idle = rss_kb(args.pid)
    release = asyncio.Event()
    opened = []
    tasks = []
    for i in range(args.streams):
        tasks.append(asyncio.create_task(client(args, opened, release)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    while len(opened) < args.streams:
        done = [t for t in tasks if t.done() and t.exception()]
        if done:
            raise done[0].exception()
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    busy = rss_kb(args.pid)
    release.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    server.close()
    print(f"streams={args.streams} rss_idle_kb={idle} rss_streams_kb={busy} "
          f"per_stream_kb={(busy - idle) / args.streams:.1f}")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:  # noqa: BLE001 - report and fail the benchmark step
        print(f"sse_load: {e}", file=sys.stderr)
        sys.exit(1)
