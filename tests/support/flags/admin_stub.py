"""A tiny HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose (429, garbage, truncation, stalls).

Raw asyncio in a thread of its own, so nothing in it can be "helpfully" corrected by a framework. Each
route is a function ``Request -> Reply``; every request is recorded with its arrival time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_REASONS = {200: "OK", 304: "Not Modified", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_length: int | None = None  # declared length; default len(body). Larger: a truncated answer
    stall: bool = False  # read the request, never answer
    hold: bool = False  # after the body, keep the connection open and silent (a stalled stream)
    stream: bool = False  # no Content-Length: the body is the start of an endless response


def json_reply(document: object, **headers: str) -> Reply:
    return Reply(200, {"Content-Type": "application/json", **headers}, json.dumps(document).encode())


def rules_reply(tasks: dict[str, str], revision: int, *, store: str | None = None) -> Reply:
    document = {"version": 1, "default": "parent", "links_enabled": True, "tasks": tasks, "patterns": {}}
    headers = {"X-Rules-Revision": str(revision), **({"X-Rules-Store": store} if store else {})}
    return json_reply(document, ETag=f'"{revision}-{store or "stub"}"', **headers)


def event_stream(*blocks: str, hold: bool = True) -> Reply:
    return Reply(
        200,
        {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
        "".join(blocks).encode(),
        stream=True,
        hold=hold,
    )


Route = Callable[[Request], Reply]


class StubServer:
    """Accepts with its own loop rather than asyncio's Server: on Python 3.11 a connection accepted just
    before ``Server.close()`` leaks its transport (``Server._attach`` fails), a ResourceWarning later."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._handlers: set[asyncio.Task[None]] = set()
        self._held: set[asyncio.StreamWriter] = set()
        self._streams: set[asyncio.StreamWriter] = set()  # held open after an event-stream reply
        self._accepting: asyncio.Task[None] | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name="stub-http-server", daemon=True)
        self._thread.start()

    def route(self, path: str, handler: Route) -> None:
        self.routes[path] = handler

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def push(self, text: str) -> int:
        """Send ``text`` down every open event stream; returns how many there were."""

        async def send() -> int:
            for writer in list(self._streams):
                writer.write(text.encode())
                await writer.drain()
            return len(self._streams)

        return asyncio.run_coroutine_threadsafe(send(), self._loop).result(5)

    def close_held(self) -> None:
        """Cut every open connection (a held stream ends as if the service restarted)."""

        async def cut() -> None:
            for writer in list(self._held):
                writer.close()

        asyncio.run_coroutine_threadsafe(cut(), self._loop).result(5)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # -- server -----------------------------------------------------------------------------------------

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._accepting = self._loop.create_task(self._accept())
        self._loop.run_forever()

    async def _accept(self) -> None:
        try:
            while True:
                connection, _ = await self._loop.sock_accept(self._listener)
                if self._stopping:
                    connection.close()
                    return
                handler = asyncio.create_task(self._serve_socket(connection))
                self._handlers.add(handler)
                handler.add_done_callback(self._handlers.discard)
        finally:
            self._listener.close()

    async def _shutdown(self) -> None:
        assert self._accepting is not None
        # Wake the accept loop with a connection of our own rather than cancelling it: a cancellation
        # landing just after accept() would lose the socket it returned.
        self._stopping = True
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            await asyncio.wait({self._accepting}, timeout=5)
        for writer in list(self._held):
            writer.close()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=10)

    async def _serve_socket(self, connection: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=connection)
        except OSError:
            connection.close()
            return
        await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._held.add(writer)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                handler = self.routes.get(request.path)
                reply = handler(request) if handler is not None else Reply(404, body=b"not here")
                if reply.stall or reply.hold:
                    if not reply.stall:
                        writer.write(self._head(reply) + reply.body)
                        await writer.drain()
                        self._streams.add(writer)
                    while await reader.read(4096):  # until the client leaves or the stub cuts it
                        pass
                    return
                writer.write(self._head(reply) + reply.body)
                await writer.drain()
                if reply.content_length is not None or reply.stream:
                    return  # cut the connection: truncated, or the end of a stream
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._held.discard(writer)
            self._streams.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()  # the transport is really gone before the loop stops

    @staticmethod
    def _head(reply: Reply) -> bytes:
        lines = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Whatever')}"]
        headers = dict(reply.headers)
        if not reply.stream:
            length = reply.content_length if reply.content_length is not None else len(reply.body)
            headers["Content-Length"] = str(length)
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return None
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Request(method, target.split("?", 1)[0], headers, body, time.monotonic())
