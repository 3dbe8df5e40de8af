#!/usr/bin/env python3
"""Holds many idle keep-alive HTTP connections open against a server, as a crowd of browsers
between clicks would.

    idle_conns.py HOST PORT COUNT SECONDS STATUS_FILE [--path /health/live] [--batch 500]

Opens COUNT connections (BATCH at a time), sends one keep-alive GET on each and reads the
answer, then keeps every connection open and silent, watching for the server closing any.
Writes STATUS_FILE (JSON) after the opening and every 5 s: opened, answered, open now, closed by
the server, failed to open, and the epoch times of the phases. Exits after SECONDS (from the
start), closing everything. Needs a descriptor limit above COUNT (`ulimit -n`).
"""

import argparse
import asyncio
import json
import os
import time


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("seconds", type=float)
    ap.add_argument("status_file")
    ap.add_argument("--path", default="/health/live")
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    started = time.time()
    deadline = time.monotonic() + args.seconds
    state = {
        "target": args.count, "opened": 0, "answered": 0, "open_now": 0, "closed_by_server": 0,
        "failed": 0, "errors": {}, "started_epoch": started, "all_open_epoch": None,
        "done": False, "first_close_epoch": None,
    }
    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               "Connection: keep-alive\r\nUser-Agent: idle-conns\r\n\r\n").encode()
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    def save() -> None:
        tmp = args.status_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, args.status_file)

    def failed(e: BaseException) -> None:
        state["failed"] += 1
        key = type(e).__name__
        state["errors"][key] = state["errors"].get(key, 0) + 1

    async def open_one() -> None:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(args.host, args.port), 10)
        except (OSError, asyncio.TimeoutError) as e:
            failed(e)
            return
        state["opened"] += 1
        try:
            w.write(request)
            await w.drain()
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await asyncio.wait_for(r.readexactly(length), 10)
            if not head.startswith(b"HTTP/1.1 200"):
                raise ValueError(head.split(b"\r\n")[0].decode(errors="replace"))
            state["answered"] += 1
            conns.append((r, w))
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
            failed(e)
            w.close()

    for i in range(0, args.count, args.batch):
        await asyncio.gather(*(open_one() for _ in range(min(args.batch, args.count - i))))
    state["all_open_epoch"] = time.time()
    state["open_now"] = len(conns)
    save()

    async def watch(r: asyncio.StreamReader) -> None:
        # An idle connection reads nothing; EOF or an error means the server closed it.
        try:
            await r.read(1)
        except OSError:
            pass
        state["open_now"] -= 1
        state["closed_by_server"] += 1
        if state["first_close_epoch"] is None:
            state["first_close_epoch"] = time.time()

    watchers = [asyncio.create_task(watch(r)) for r, _ in conns]
    while time.monotonic() < deadline:
        await asyncio.sleep(min(5, max(0.0, deadline - time.monotonic())))
        save()
    for t in watchers:
        t.cancel()
    for _, w in conns:
        w.close()
    state["done"] = True
    save()


if __name__ == "__main__":
    asyncio.run(main())
