"""A small Server-Sent Events reader for the tests (parses the wire format, nothing more)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Message:
    event: str | None = None
    id: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class SSEReader:
    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines

    async def next(self, within: float = 10.0) -> Message:
        """The next message block (events and comment-only blocks alike)."""
        return await asyncio.wait_for(self._next(), within)

    async def next_event(self, within: float = 10.0) -> Message:
        """The next block that carries an event, skipping heartbeats and other comments."""

        async def find() -> Message:
            while True:
                message = await self._next()
                if message.event is not None:
                    return message

        return await asyncio.wait_for(find(), within)

    async def _next(self) -> Message:
        message = Message()
        seen_any = False
        async for line in self._lines:
            if line == "":
                if seen_any:
                    return message
                continue
            seen_any = True
            if line.startswith(":"):
                message.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                message.event = value
            elif name == "id":
                message.id = value
            elif name == "data":
                message.data = f"{message.data}\n{value}" if message.data else value
            elif name == "retry":
                message.retry = int(value)
        raise EOFError("stream ended")
