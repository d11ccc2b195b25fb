"""Request body size limit, enforced before any handler reads the body."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hatchet_trace_flags_server.core.problems import PROBLEM_MEDIA_TYPE, problem_body

__all__ = ["BodySizeLimit"]

_DRAIN_FACTOR = 8


class BodySizeLimit:
    """413 for bodies over ``max_bytes``: at once from ``Content-Length``, otherwise (chunked
    uploads) after buffering at most ``max_bytes`` + 1 bytes."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                break
        else:
            if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
                await self.app(scope, receive, send)
                return
        if declared is not None:
            if declared > self.max_bytes:
                if declared <= _DRAIN_FACTOR * self.max_bytes:
                    await self._drain(receive, {"more_body": True})
                await self._reject(send)
                return
            await self.app(scope, receive, send)
            return
        # No length given: read it here so a handler never sees a partial, oversized body.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._drain(receive, message)
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive, message: Message) -> None:
        """Read (and drop) a bounded amount of what the client is still sending, so that it gets
        to read our 413 instead of a connection reset in the middle of its upload."""
        drained = 0
        while message.get("more_body", False) and drained <= _DRAIN_FACTOR * self.max_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            drained += len(message.get("body", b""))

    async def _reject(self, send: Send) -> None:
        body = problem_body(413, f"request body larger than {self.max_bytes} bytes")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
