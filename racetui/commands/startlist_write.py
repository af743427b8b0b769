"""``racetui startlist raceentry|chronotrack add|move|edit|delete|send``: race-day fixes
written back through the durable outbox.

Order of commits, so that a ``kill -9`` anywhere loses nothing: the change is queued in the
outbox first, then staged in the start-list cache (marked pending), then delivered. Killed
after queueing, the next ``send`` (or any write, or the dashboard) delivers it; killed while
the request was out, the re-send first looks for the entry on the service (see
``racetui.sources.startlist.writeback``), so it is created once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from racetui.config import Config
    from racetui.publish.outbox import Outbox, OutboxItem

__all__ = ["run_write"]


def _err(message: str) -> None:
    print(f"racetui startlist: {message}", file=sys.stderr)


def _what(service: str, args: argparse.Namespace) -> dict[str, Any]:
    """The change the arguments describe, for :func:`writeback.prepare`."""
    remote = args.race if service == "raceentry" else args.event
    if isinstance(remote, list):
        remote = None
    if not remote:
        flag = "--race" if service == "raceentry" else "--event"
        raise ValueError(f"{args.action}: {flag} is required (which RaceEntry race / ChronoTrack event)")
    fields: dict[str, Any] = {
        "first_name": args.first,
        "last_name": args.last,
        "gender": args.gender,
        "dob": args.dob,
    }
    if service == "raceentry":
        fields["team_id"] = args.team_id
    else:
        fields["team"] = args.team
    what: dict[str, Any] = {"action": args.action, "source": service, "remote": str(remote)}
    if args.action == "add":
        fields["bib"] = args.bib
        if service == "raceentry":
            events = args.event or []
            if len(events) != 1:
                raise ValueError("add: name the event to add to with one --event")
            what["event"] = events[0]
        else:
            races = args.race or []
            if len(races) != 1:
                raise ValueError("add: name the race to add to with one --race")
            what["event"] = races[0]
    else:
        if not args.entry and not args.bib:
            raise ValueError(f"{args.action}: name the entry with --entry ID or --bib BIB")
        what["entry_id"] = args.entry
        what["bib"] = None if args.entry else args.bib
        fields["bib"] = args.new_bib
        if args.action == "move":
            what["event"] = args.to_event if service == "raceentry" else args.to_race
            if not what["event"]:
                raise ValueError(
                    f"move: {'--to-event' if service == 'raceentry' else '--to-race'} is required"
                )
    if args.action in ("add", "edit"):
        what["fields"] = {k: v for k, v in fields.items() if v is not None}
    return what


async def run_write(service: str, args: argparse.Namespace, config: Config, client: Any) -> int:
    from racetui.publish.outbox import Outbox, OutboxError
    from racetui.publish.startlist import queue_change, target_for
    from racetui.sources.startlist.cache import PendingWrites, StartListCache
    from racetui.sources.startlist.writeback import StartListWriter, prepare

    cache = StartListCache()
    writer = StartListWriter(client, cache)
    try:
        change = entry = None
        if args.action != "send":
            try:
                change, entry = await asyncio.to_thread(prepare, cache, **_what(service, args))
            except ValueError as exc:
                _err(str(exc))
                return 2
        try:
            outbox = Outbox()
        except OutboxError as exc:
            if change is None or entry is None:
                _err(f"{exc}; it sends queued changes itself")
                return 1
            # The dashboard delivers from this outbox: queue for it and let it send.
            with Outbox(owner=False) as shared:
                _queue(queue_change, shared, change, client)
            await asyncio.to_thread(PendingWrites(cache).stage, change.source, change.list_key, entry)
            print(f"queued: {change.describe()} (the running racetui delivers it: {exc})")
            return 0
        with outbox:
            mine: list[int] = []
            if change is not None and entry is not None:
                mine.append(_queue(queue_change, outbox, change, client).id)
                await asyncio.to_thread(PendingWrites(cache).stage, change.source, change.list_key, entry)
                print(f"queued: {change.describe()} (shown as pending)")
            return await _deliver(outbox, service, writer, target_for(service), mine, args.wait)
    finally:
        with contextlib.suppress(Exception):
            await writer.aclose()


def _queue(queue_change: Any, outbox: Outbox, change: Any, client: Any) -> OutboxItem:
    method = {"add": "POST", "edit": "POST", "move": "POST", "delete": "POST"}[change.action]
    if change.source == "chronotrack":
        method = {"add": "POST", "edit": "PUT", "move": "PUT", "delete": "DELETE"}[change.action]
    from racetui.util.secrets import safe_url

    return queue_change(  # type: ignore[no-any-return]
        outbox,
        source=change.source,
        key=change.key,
        body=change.to_json(),
        summary=change.describe(),
        url=safe_url(str(getattr(client, "base_url", ""))),
        method=method,
        meta={"action": change.action, "list_key": change.list_key, "entry_id": change.entry_id},
    )


async def _deliver(
    outbox: Outbox, service: str, writer: Any, target: str, mine: list[int], wait: float
) -> int:
    """Deliver every queued change of this service (earlier ones first), wait up to
    ``wait`` seconds for them, and say how each ended."""
    from racetui.publish.outbox import ItemState, PublishService
    from racetui.publish.startlist import StartListSender

    pending = [i.id for i in outbox.pending(target)]
    ids = sorted(set(pending) | set(mine))
    if not ids:
        print("nothing queued")
        return 0
    sender = StartListSender(service, writer)
    delivery = PublishService(outbox, [sender], poll_interval=0.2)
    task = asyncio.create_task(delivery.run())
    try:
        await delivery.wait_settled(ids, timeout=wait)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    code = 0
    for item_id in ids:
        item = outbox.get(item_id, body=False)
        if item.state is ItemState.SENT:
            print(f"sent: {item.summary}")
        elif item.state is ItemState.FAILED:
            _err(f"not done: {item.error}")
            code = 1
        elif item.state in (ItemState.QUEUED, ItemState.SENDING):
            _err(f"still queued: {item.summary} ({item.error or 'no answer yet'}); `send` delivers it later")
            code = 1
    return code
