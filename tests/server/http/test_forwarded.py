"""Behind proxies the client's address is one the client cannot choose (issue 27, section 1).

Real uvicorn on 127.0.0.1; the test plays the proxy (its peer address is 127.0.0.1) and writes the
X-Forwarded-For a proxy would pass on: whatever the client sent, with the proxies' entries appended.
Failed-authentication throttling is keyed on the resolved address, so which address was throttled
shows which entry the service believed.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.server.live import ADMIN_TOKEN, LiveFactory, SettingsFactory, auth

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # no database involved

WRONG = "wrong-token-0123456789abcdefghij"
VICTIM = "203.0.113.7"
ATTACKER = "198.51.100.66"


def _get(http: httpx.Client, token: str, forwarded_for: str) -> int:
    return http.get("/api/v1/tasks", headers={**auth(token), "X-Forwarded-For": forwarded_for}).status_code


def test_a_forged_left_most_entry_does_not_throttle_the_victim_behind_a_star_proxy(
    live_factory: LiveFactory, make_settings: SettingsFactory
) -> None:
    """The reproduction from the issue: the chart's `*` behind an Ingress, 21 wrong tokens sent with
    `X-Forwarded-For: <victim>` by the attacker, which the Ingress passes on with the attacker's
    address appended."""
    live = live_factory(make_settings(forwarded_allow_ips="*"))
    with httpx.Client(base_url=live.url, timeout=10) as proxy:
        statuses = [_get(proxy, WRONG, f"{VICTIM}, {ATTACKER}") for _ in range(21)]
        assert statuses[:20] == [401] * 20
        assert statuses[20] == 429
        # The attacker's own address is the one told to wait...
        assert _get(proxy, ADMIN_TOKEN, ATTACKER) == 429
        # ...and the victim's requests, passed on by the proxy, still work.
        assert _get(proxy, ADMIN_TOKEN, VICTIM) == 200


@pytest.mark.parametrize(
    ("settings", "forwarded_for", "client", "forged"),
    [
        # Two proxies in a row under "*": the load balancer's entry is skipped by count.
        (
            {"forwarded_allow_ips": "*", "forwarded_hops": 2},
            f"{VICTIM}, {ATTACKER}, 10.0.0.5",
            ATTACKER,
            VICTIM,
        ),
        # Listed proxy networks are skipped by address, the first other entry from the right is the client.
        (
            {"forwarded_allow_ips": "127.0.0.1, 10.0.0.0/8"},
            f"{VICTIM}, {ATTACKER}, 10.1.2.3",
            ATTACKER,
            VICTIM,
        ),
        # A port and an IPv6 literal in brackets are addresses too.
        ({"forwarded_allow_ips": "*"}, f"{VICTIM}, [2001:db8::66]:4711", "2001:db8::66", VICTIM),
    ],
    ids=["two-hops", "listed-proxies", "ipv6-with-port"],
)
def test_the_client_is_counted_from_the_right(
    live_factory: LiveFactory,
    make_settings: SettingsFactory,
    settings: dict[str, object],
    forwarded_for: str,
    client: str,
    forged: str,
) -> None:
    live = live_factory(
        make_settings(auth_failures_per_client_burst=1, auth_failures_per_client_rate=0.01, **settings)
    )
    with httpx.Client(base_url=live.url, timeout=10) as proxy:
        assert [_get(proxy, WRONG, forwarded_for) for _ in range(2)] == [401, 429]
        assert _get(proxy, ADMIN_TOKEN, client) == 429
        assert _get(proxy, ADMIN_TOKEN, forged) == 200


def test_headers_from_a_peer_that_is_not_a_trusted_proxy_are_ignored(
    live_factory: LiveFactory, make_settings: SettingsFactory
) -> None:
    live = live_factory(
        make_settings(
            forwarded_allow_ips="10.0.0.1",
            auth_failures_per_client_burst=1,
            auth_failures_per_client_rate=0.01,
        )
    )
    with httpx.Client(base_url=live.url, timeout=10) as direct:
        assert [_get(direct, WRONG, ATTACKER) for _ in range(2)] == [401, 429]
        # The peer itself (127.0.0.1) was throttled, whatever it wrote into the header.
        assert _get(direct, ADMIN_TOKEN, VICTIM) == 429
