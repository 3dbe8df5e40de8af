#!/usr/bin/env python3
"""A TCP proxy that can add latency, switched at run time: what `tc netem delay` would do on the
link to PostgreSQL, for a kernel without the netem qdisc.

    latency_proxy.py LISTEN_HOST:PORT TARGET_HOST:PORT --delay-ms 25 --pid-file F [--state-file S]

Starts with no delay. SIGUSR1 switches the delay on, SIGUSR2 off; SIGTERM stops the proxy.
The current state ("on 25" / "off") is written to the state file at every switch, so a drill
can poll for it instead of sleeping.

The delay applies to each direction on its own, per chunk read: a chunk read at time t is
written at t + delay, later chunks are not held back by earlier ones' waits (a pipe of fixed
length, like netem on a link, not a queue that adds up), and the order is kept because one
writer per direction sends the chunks first in, first out. So a query's round trip grows by
two delays, one each way, whatever the number of bytes in flight.
"""

import argparse
import asyncio
import os
import signal
import socket
import time

# Chunks read but not yet written, per direction: past this the reader waits (back pressure,
# as a full TCP window would), so a big result cannot fill the memory.
QUEUE_CHUNKS = 256


class Delay:
    def __init__(self, delay_s: float, state_file: str | None):
        self.configured = delay_s
        self.current = 0.0
        self.state_file = state_file
        self.write_state()

    def switch(self, on: bool) -> None:
        self.current = self.configured if on else 0.0
        self.write_state()

    def write_state(self) -> None:
        if self.state_file:
            text = f"on {self.current * 1000:.0f}\n" if self.current else "off\n"
            tmp = self.state_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, self.state_file)


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: Delay) -> None:
    """Copies one direction, each chunk delayed by the delay in force when it was read."""
    queue: asyncio.Queue = asyncio.Queue(QUEUE_CHUNKS)

    async def read_side() -> None:
        try:
            while True:
                chunk = await reader.read(65536)
                await queue.put((time.monotonic() + delay.current, chunk))
                if not chunk:
                    return
        except (ConnectionError, OSError):
            await queue.put((0.0, b""))

    async def write_side() -> None:
        while True:
            due, chunk = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:
                # End of this direction: half-close, so the other one can finish.
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()

    reading = asyncio.create_task(read_side())
    try:
        await write_side()
    finally:
        reading.cancel()


async def handle(client_r, client_w, target: tuple[str, int], delay: Delay) -> None:
    try:
        server_r, server_w = await asyncio.open_connection(*target)
    except OSError:
        client_w.close()
        return
    for w in (client_w, server_w):
        sock = w.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    directions = [
        asyncio.create_task(pump(client_r, server_w, delay)),
        asyncio.create_task(pump(server_r, client_w, delay)),
    ]
    try:
        # When one side fails, the connection is over for both.
        done, pending = await asyncio.wait(directions, return_when=asyncio.FIRST_EXCEPTION)
        for t in pending:
            if any(d.exception() for d in done):
                t.cancel()
        await asyncio.gather(*directions, return_exceptions=True)
    finally:
        for w in (client_w, server_w):
            w.close()


def hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("listen", type=hostport)
    ap.add_argument("target", type=hostport)
    ap.add_argument("--delay-ms", type=float, required=True, help="one-way delay while switched on")
    ap.add_argument("--pid-file")
    ap.add_argument("--state-file")
    args = ap.parse_args()
    delay = Delay(args.delay_ms / 1000.0, args.state_file)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, delay.switch, True)
    loop.add_signal_handler(signal.SIGUSR2, delay.switch, False)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args.target, delay), *args.listen, reuse_address=True, backlog=512
    )
    if args.pid_file:
        with open(args.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
