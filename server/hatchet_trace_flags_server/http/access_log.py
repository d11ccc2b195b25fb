"""Access-log redaction: a secret in a query string (``?token=...``) never reaches the log."""

from __future__ import annotations

import logging
import re
from typing import Final

__all__ = ["RedactSecrets", "install_redaction"]

# Any query parameter whose name mentions one of these: its value is replaced by "***".
_SECRET_PARAMETER: Final = re.compile(
    r"(?i)(?P<name>[^&=?]*(?:token|key|secret|password|auth|session|csrf)[^&=]*)=(?P<value>[^&#]*)"
)


def redact(path: str) -> str:
    if "?" not in path:
        return path
    base, _, query = path.partition("?")
    return f"{base}?{_SECRET_PARAMETER.sub(lambda match: match['name'] + '=***', query)}"


class RedactSecrets(logging.Filter):
    """For uvicorn's access logger, whose arguments are (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def install_redaction(logger_name: str = "uvicorn.access") -> None:
    """Idempotent: one filter on the access logger, whatever logging configuration ran before."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
        logger.addFilter(RedactSecrets())
