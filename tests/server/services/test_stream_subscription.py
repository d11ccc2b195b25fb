"""A change stream's subscription: items in order, a stalled reader told to refetch, heartbeats only
for idle streams (issue 23: one timer for all streams instead of one per stream)."""

from __future__ import annotations

import asyncio

from hatchet_trace_flags_server.services.feed import HEARTBEAT, Refetch, Subscription


def _refetch() -> Refetch:
    return Refetch(7, '"etag-7"')


async def test_a_reader_gets_the_items_in_order_and_waits_for_the_next() -> None:
    subscription = Subscription("worker")
    subscription.offer(HEARTBEAT, _refetch)
    subscription.offer(_refetch(), _refetch)
    assert await subscription.next() is HEARTBEAT
    assert await subscription.next() == _refetch()
    assert subscription.idle
    waiting = asyncio.create_task(subscription.next())
    await asyncio.sleep(0)  # the reader is now waiting: the offer must wake it
    subscription.offer(None, _refetch)
    assert await asyncio.wait_for(waiting, 10) is None


async def test_a_stalled_reader_is_told_to_refetch_instead_of_growing_without_bound() -> None:
    subscription = Subscription("worker")
    for _ in range(10_000):
        subscription.offer(HEARTBEAT, _refetch)
    items: list[object] = []
    while not subscription.idle:
        items.append(await subscription.next())
    assert len(items) < 300
    assert _refetch() in items


async def test_the_shutdown_item_survives_a_full_queue() -> None:
    subscription = Subscription("worker")
    for _ in range(1_000):
        subscription.offer(HEARTBEAT, _refetch)
    subscription.offer(None, _refetch)
    items: list[object] = []
    while not subscription.idle:
        items.append(await subscription.next())
    assert items[-1] is None
