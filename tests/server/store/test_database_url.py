"""libpq's ``sslmode=`` in DATABASE_URL reaches the PostgreSQL driver (asyncpg parses it itself), and
asyncpg's own keyword ``ssl=`` does not belong in a URL: docs/server.md and docs/kubernetes.md say so.

The test server runs without TLS, so ``sslmode=require`` must fail with the driver's TLS refusal: proof
that the parameter is read, not ignored (ignored, the connection would succeed in plain text)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from hatchet_trace_flags_server.core.settings import Settings
from hatchet_trace_flags_server.store.database import Database

from tests.support.paths import DOCS
from tests.support.server.live import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.timeout(30)


async def _encrypted(query: str) -> bool:
    database = Database(Settings(database_url=f"{POSTGRES_ADMIN_URL}?{query}").sqlalchemy_url())
    try:
        async with database.engine.connect() as connection:
            found = await connection.execute(
                sa.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            )
            return bool(found.scalar_one())
    finally:
        await database.dispose()


async def test_sslmode_in_the_url_is_what_the_driver_connects_with() -> None:
    assert await _encrypted("sslmode=disable") is False
    assert await _encrypted("sslmode=prefer") is False  # the test server offers no TLS
    with pytest.raises(ConnectionError, match="rejected SSL upgrade"):
        await _encrypted("sslmode=require")


async def test_ssl_as_a_url_parameter_is_refused() -> None:
    # asyncpg hands query parameters it does not know to the server as settings; "ssl" is the server's
    # own (read-only) setting.
    with pytest.raises(Exception, match='parameter "ssl" cannot be changed now'):
        await _encrypted("ssl=require")


def test_the_docs_give_sslmode() -> None:
    for name in ("server.md", "kubernetes.md"):
        text = (DOCS / name).read_text()
        assert "sslmode=require" in text, name
        assert not re.search(r"[?&]ssl=", text), f"{name} gives ssl= in a URL"
