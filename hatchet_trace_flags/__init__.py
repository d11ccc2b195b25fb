"""Span links instead of parent spans for Hatchet fan-out work, switchable per task at runtime."""

__all__: list[str] = []
