"""A loopback TCP proxy in front of an HTTP/1.1 server (the S3 test server) that makes it
look far away and throttling.

Usage::

    with DelayProxy(s3.port, delay_s=0.05, fail_fraction=0.05) as proxy:
        env = {**s3.env(), "AWS_ENDPOINT_URL": proxy.endpoint}
        ...
        proxy.stats()   # {"requests": ..., "forwarded": ..., "failed": ...}

Each request (not each connection: S3 clients keep connections alive) waits `delay_s`
before its first byte is forwarded, as a store whose first byte is that far away would
answer. A GET can instead be answered by the proxy itself with `503 SlowDown`, the answer
S3 gives while it scales a prefix: a random `fail_fraction` of all GETs, or every GET whose
path (the query left out) contains one of `fail_paths` (a key that never stops being
throttled; "/bucket/prefix/" for every object below it, the listing still answered). Requests with a
body are always forwarded (their body is streamed as it comes).

Request boundaries are found from the request line, the headers and Content-Length;
a chunked request body switches the connection to plain relaying (S3 clients send
Content-Length). Clients do not pipeline, so answering a request here never reorders
responses. Listens on 127.0.0.1 only; runs its own event loop in a daemon thread; also a
command line tool (`python delay_proxy.py --help`).

Only the standard library is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time

_HEAD_LIMIT = 64 << 10
_SLOW_DOWN_BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                   b"<Message>Please reduce your request rate.</Message></Error>")
_SLOW_DOWN = (b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
              b"Content-Length: " + str(len(_SLOW_DOWN_BODY)).encode() + b"\r\n"
              b"Connection: keep-alive\r\n\r\n" + _SLOW_DOWN_BODY)


class DelayProxy:
    def __init__(self, upstream_port: int, delay_s: float = 0.0, fail_fraction: float = 0.0,
                 fail_paths: tuple[str, ...] = (), upstream_host: str = "127.0.0.1",
                 seed: int = 0):
        self.upstream = (upstream_host, upstream_port)
        self.delay_s = delay_s
        self.fail_fraction = fail_fraction
        self.fail_paths = tuple(fail_paths)
        self._random = random.Random(seed)
        self._counts = {"requests": 0, "forwarded": 0, "failed": 0}
        self._failed_paths: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> "DelayProxy":
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as error:  # noqa: BLE001 - reported to start()
                errors.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="delay-proxy", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            raise errors[0]
        if not self.port:
            raise RuntimeError("delay proxy did not start")
        return self

    def close(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(30)
        self._loop = None

    def __enter__(self) -> "DelayProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict:
        """Counts so far: requests seen, forwarded, answered 503; and 503s per failing path."""
        return {**self._counts, "failed_paths": dict(self._failed_paths)}

    # -- relaying --------------------------------------------------------------------
    def _should_fail(self, method: bytes, target: str) -> bool:
        if method != b"GET":
            return False
        path_part = target.split("?", 1)[0]
        if any(path in path_part for path in self.fail_paths):
            return True
        return self.fail_fraction > 0 and self._random.random() < self.fail_fraction

    async def _serve(self, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter) -> None:
        upstream_writer = None
        relay = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            relay = asyncio.ensure_future(self._pipe(upstream_reader, client_writer))
            while True:
                try:
                    head = await client_reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return  # the client closed the connection between requests
                except asyncio.LimitOverrunError:
                    return
                self._counts["requests"] += 1
                request_line, _, header_block = head.partition(b"\r\n")
                parts = request_line.split(b" ")
                method = parts[0] if parts else b""
                target = parts[1].decode("latin-1") if len(parts) > 1 else ""
                length = 0
                chunked = False
                for line in header_block.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value.strip() or 0)
                    elif name == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                if self.delay_s > 0:
                    await asyncio.sleep(self.delay_s)
                if not chunked and length == 0 and self._should_fail(method, target):
                    self._counts["failed"] += 1
                    for path in self.fail_paths:
                        if path in target.split("?", 1)[0]:
                            self._failed_paths[path] = self._failed_paths.get(path, 0) + 1
                    client_writer.write(_SLOW_DOWN)
                    await client_writer.drain()
                    continue
                self._counts["forwarded"] += 1
                upstream_writer.write(head)
                if chunked:
                    await self._pipe(client_reader, upstream_writer)
                    return
                while length > 0:
                    data = await client_reader.read(min(length, 1 << 20))
                    if not data:
                        return
                    upstream_writer.write(data)
                    length -= len(data)
                await upstream_writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()
            if relay is not None:
                relay.cancel()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--fail-fraction", type=float, default=0.0)
    parser.add_argument("--fail-path", action="append", default=[])
    args = parser.parse_args()
    with DelayProxy(args.upstream_port, args.delay_ms / 1000, args.fail_fraction,
                    tuple(args.fail_path)) as proxy:
        print(proxy.endpoint, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
