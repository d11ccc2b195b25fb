"""``python -m hatchet_trace_flags_server`` and the ``hatchet-trace-flags`` console script."""

from __future__ import annotations

import sys

from .cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
