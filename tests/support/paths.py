"""Where the repository's own files are, for tests that read docs, examples or build the wheel."""

from __future__ import annotations

from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[2]
DOCS: Final = REPO / "docs"
EXAMPLES: Final = REPO / "examples"
