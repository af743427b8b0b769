"""Desk entries through Redis: viewers with a role that may record ask, the hub records.

The hub owns the incident desk's database (``incidents.sqlite3`` in its data dir): a viewer
started with a role that may record (``racetui view … --role td``) sends each confirmed
entry as generic data (action kind and fields, the operator's name, an id) to a request
stream; the hub records it with :meth:`IncidentDesk.record`, applies it to its engine (the
change reaches every viewer as a normal change frame) and answers on a list of that id.
A viewer without that role refuses locally: nothing reaches Redis.

Keys (``prefix`` as the hub's):

- ``{prefix}:desk:requests`` — a stream read by the hub's consumer group ``hub``: fields
  ``id``, ``operator``, ``role``, ``body`` (JSON: ``race_id``, ``bib``, ``action``,
  ``seconds``, ``infringement``, ``reason``, ``target``, ``adopt``, ``location``, ``box``,
  ``subject``, ``name``). An entry is
  acknowledged once answered; one the hub read but never answered (it died) is read
  again at its next start.
- ``{prefix}:desk:answers`` — a hash, request id → the answer (JSON): a retried send with
  the same id gets the first answer again instead of a second entry.
- ``{prefix}:desk:answer:{id}`` — a list the asking viewer waits on (``BLPOP``), expiring.
- ``{prefix}:desk:state`` — what the desk says now, for the viewers' desk screens (the
  event it records for and its audit trail, as JSON); a viewer folds the trail into
  entries exactly as the hub's desk does (:func:`racetui.sources.desk.lifecycle.fold`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError, ResponseError

from racetui.config import DeskConfig, Permission, Role
from racetui.engine import ChangeSet
from racetui.sources.base import source_kinds
from racetui.sources.desk import (
    ActionKind,
    DeskAction,
    DeskEntry,
    DeskError,
    EventKey,
    IncidentDesk,
    permission_for,
)
from racetui.sources.desk.lifecycle import fold
from racetui.util.secrets import safe_url, scrub

__all__ = ["HubDesk", "RemoteDesk", "desk_keys", "may_record", "permission_for", "role_of"]

log = logging.getLogger(__name__)

GROUP = "hub"
ANSWER_TTL = 3600  # seconds an answer list is kept for a viewer that asks again
CONFIRM_TIMEOUT = 15.0  # seconds a viewer waits for the hub's answer and frame
# Race status a timer records (and may withdraw); everything else is the TD's desk.


def role_of(role: Role | str | None) -> Role | None:
    """The role a viewer was started with (None: none, or a name that is not a role)."""
    if role is None or isinstance(role, Role):
        return role
    try:
        return Role(str(role).lower())
    except ValueError:
        return None


def may_record(
    role: Role | str | None, action: ActionKind | str | None = None, target: ActionKind | None = None
) -> bool:
    """Whether a viewer of ``role`` may send this entry (any entry, without ``action``).
    A viewer without a role is read-only (unlike a dashboard of its own, where no role
    is one person doing everything)."""
    known = role_of(role)
    if known is None:
        return False
    if action is None:
        return known.allows(Permission.DESK) or known.allows(Permission.STATUS)
    return known.allows(permission_for(action, target))


def desk_keys(prefix: str) -> dict[str, str]:
    base = f"{prefix}:desk"
    return {
        "requests": f"{base}:requests",
        "answers": f"{base}:answers",
        "answer": f"{base}:answer:",
        "state": f"{base}:state",
    }


def _client(url: str, *, timeout: float) -> Any:
    import redis.asyncio as aioredis

    return aioredis.from_url(url, socket_timeout=timeout, socket_connect_timeout=min(timeout, 10.0))


async def _close(client: Any) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(client.aclose()), 2.0)


def _action_json(act: DeskAction) -> dict[str, Any]:
    return {
        "id": act.id,
        "at": act.at.isoformat(),
        "operator": act.operator,
        "race_id": act.race_id,
        "bib": act.bib,
        "action": act.action.value,
        "seconds": act.seconds,
        "infringement": act.infringement,
        "reason": act.reason,
        "target": act.target,
        "event": act.event,
        "location": act.location,
        "box": act.box,
        "seen_at": None if act.seen_at is None else act.seen_at.isoformat(),
        "subject": None if act.subject is None else act.subject.value,
        "name": act.name,
    }


def _action_from(data: dict[str, Any]) -> DeskAction:
    return DeskAction(
        id=int(data["id"]),
        at=datetime.fromisoformat(str(data["at"])),
        operator=str(data["operator"]),
        race_id=str(data["race_id"]),
        bib=str(data["bib"]),
        action=ActionKind(str(data["action"])),
        seconds=data.get("seconds"),
        infringement=data.get("infringement"),
        reason=data.get("reason"),
        target=data.get("target"),
        event=str(data.get("event") or ""),
        location=data.get("location"),
        box=data.get("box"),
        seen_at=datetime.fromisoformat(str(data["seen_at"])) if data.get("seen_at") else None,
        subject=ActionKind(str(data["subject"])) if data.get("subject") else None,
        name=data.get("name"),
    )


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DeskError(f"{name}: expected a whole number, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise DeskError(f"{name}: expected a whole number, got {value!r}") from None


# ======================================================================== hub
class HubDesk:
    """The hub's side: read requests, record them on the desk, answer, publish the state.

    ``hub`` is the :class:`~racetui.hub.core.Hub` whose engine the desk applies to (its
    change frames carry the desk's word to every viewer)."""

    def __init__(
        self,
        url: str,
        hub: Any,
        desk: IncidentDesk,
        *,
        prefix: str = "racetui",
        block_ms: int = 1000,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self.url = url
        self.hub = hub
        self.desk = desk
        self.keys = desk_keys(prefix)
        self.block_ms = block_ms
        self.today = today
        self.consumer = f"hub-{uuid.uuid4().hex[:8]}"
        self.answered: dict[str, str] = {}  # this run's answers (Redis may have restarted)
        self.recorded = 0
        self.refused = 0
        self.last_error: str | None = None
        self._seen: set[tuple[str, int]] = set()
        self._state_dirty = True

    # ------------------------------------------------------------ the desk
    def source_name(self) -> str:
        return source_kinds(self.hub.sources)

    def refresh(self) -> bool:
        """Bind the desk to the hub's event and apply its word to races it has not seen;
        True when the published state must be written again."""
        engine = self.hub.engine
        event = EventKey.of(engine, self.source_name(), self.today())
        changed = self.desk.bind(event)
        if changed:
            self._seen = set()
        seen = {(race_id, id(standings)) for race_id, standings in engine.races.items()}
        if seen <= self._seen and not changed:
            return False
        self.desk.apply(self.hub.pipeline)
        self._seen = seen
        return True

    def handle(self, operator: str, role: str, body: dict[str, Any]) -> dict[str, Any]:
        """Record one request; the answer (``ok``, the recorded ``actions``, the hub's
        ``seq`` whose frame carries it; or ``error`` in the desk's words)."""
        try:
            if not may_record(role):
                raise DeskError(f"role {role or 'none'!r} may not record desk entries")
            race_id = str(body.get("race_id") or "")
            bib = str(body.get("bib") or "")
            if race_id not in self.hub.engine.races:
                raise DeskError(f"race {race_id!r}: not in the hub's event")
            try:
                kind = ActionKind(str(body.get("action")))
            except ValueError:
                raise DeskError(f"action: {body.get('action')!r} is not a desk action") from None
            seconds = _int_or_none(body.get("seconds"), "seconds")
            target = _int_or_none(body.get("target"), "target")
            self.refresh()
            if not may_record(role, kind, self._target_kind(race_id, bib, target)):
                raise DeskError(f"role {role}: may not record {kind.value} (a TD's desk entry)")
            infringement = body.get("infringement")
            reason = body.get("reason")
            location, box, subject, name = (
                value if isinstance(value := body.get(field), str) and value else None
                for field in ("location", "box", "subject", "name")
            )
            who = str(operator or "").strip() or None
            done: list[DeskAction] = []
            if kind is ActionKind.SERVE and body.get("adopt"):
                # a source's penalty: recorded on the desk first, then served
                pen = self.desk.record(
                    race_id, bib, ActionKind.PENALTY, seconds=seconds, infringement=infringement, operator=who
                )
                done.append(pen)
                target, seconds, infringement = pen.id, None, None
            done.append(
                self.desk.record(
                    race_id,
                    bib,
                    kind,
                    seconds=seconds,
                    infringement=infringement if isinstance(infringement, str) else None,
                    reason=reason if isinstance(reason, str) else None,
                    target=target,
                    operator=who,
                    location=location,
                    box=box,
                    subject=subject,
                    name=name,
                )
            )
            self.desk.apply(self.hub.pipeline, race_id, bib)
            self.hub.flush()
        except DeskError as exc:
            self.refused += 1
            return {"ok": False, "error": str(exc)}
        self.recorded += 1
        self._state_dirty = True
        return {"ok": True, "actions": [_action_json(a) for a in done], "seq": self.hub.seq}

    def _target_kind(self, race_id: str, bib: str, target: int | None) -> ActionKind | None:
        entry = None if target is None else self.desk.entry(race_id, bib, target)
        return None if entry is None else entry.kind

    def state(self) -> bytes:
        audit = self.desk.audit()
        return json.dumps({"event": self.desk.event_text, "audit": [_action_json(a) for a in audit]}).encode()

    # ------------------------------------------------------------ running
    async def run(self) -> None:
        """Serve requests until cancelled; reconnect whenever Redis is away."""
        failures = 0
        while True:
            client = _client(self.url, timeout=self.block_ms / 1000 + 10.0)
            try:
                await self._ensure_group(client)
                self._state_dirty = True
                failures = 0
                while not self.hub.engine.races:
                    await self._serve(client, "0")
                await self._serve(client, "0")  # what an earlier run read but never answered
                while True:
                    await self._serve(client, ">")
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                failures += 1
                self.last_error = scrub(f"{type(exc).__name__}: {exc}")
                log.warning("redis %s: desk requests: %s; retrying", safe_url(self.url), self.last_error)
                await asyncio.sleep(min(5.0, 0.2 * 2**failures))
            finally:
                await _close(client)

    async def _ensure_group(self, client: Any) -> None:
        try:
            await client.xgroup_create(self.keys["requests"], GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _serve(self, client: Any, start: str) -> None:
        if not self.hub.engine.races:  # not synced yet: requests wait in the stream
            await asyncio.sleep(0.1)
            return
        if self.refresh():
            self._state_dirty = True
        if self._state_dirty:
            await client.set(self.keys["state"], self.state())
            self._state_dirty = False
        answer = await client.xreadgroup(
            GROUP,
            self.consumer,
            {self.keys["requests"]: start},
            count=50,
            block=None if start == "0" else self.block_ms,
        )
        for _stream, entries in answer or ():
            for entry_id, fields in entries:
                await self._answer(client, entry_id, fields)
        if start == "0":
            # the group's own pending entries of earlier consumers (an earlier run)
            pending = await client.xautoclaim(
                self.keys["requests"], GROUP, self.consumer, 0, "0-0", count=100
            )
            for entry_id, fields in (pending[1] if pending else []) or []:
                if fields:
                    await self._answer(client, entry_id, fields)

    async def _answer(self, client: Any, entry_id: Any, fields: dict[bytes, bytes]) -> None:
        ident = fields.get(b"id", b"").decode(errors="replace")
        operator = fields.get(b"operator", b"").decode(errors="replace")
        role = fields.get(b"role", b"").decode(errors="replace")
        text = self.answered.get(ident)
        if text is None and ident:
            stored = await client.hget(self.keys["answers"], ident)
            text = stored.decode() if stored else None
        if text is None:
            try:
                body = json.loads(fields.get(b"body", b"{}"))
                if not isinstance(body, dict):
                    raise ValueError("not an object")
                reply = self.handle(operator, role, body)
            except ValueError as exc:
                self.refused += 1
                reply = {"ok": False, "error": f"desk request: not readable ({exc})"}
            if not reply["ok"]:
                log.warning(
                    "desk request %s from %s refused: %s", ident or "?", operator or "?", reply["error"]
                )
            text = json.dumps(reply)
            if ident:
                self.answered[ident] = text
        pipe = client.pipeline(transaction=True)
        if ident:
            pipe.hset(self.keys["answers"], ident, text)
            pipe.rpush(self.keys["answer"] + ident, text)
            pipe.expire(self.keys["answer"] + ident, ANSWER_TTL)
        if self._state_dirty:
            pipe.set(self.keys["state"], self.state())
        pipe.xack(self.keys["requests"], GROUP, entry_id)
        await pipe.execute()
        self._state_dirty = False


# ===================================================================== viewer
class RemoteDesk:
    """A viewer's desk: what the hub's desk says (read from ``{prefix}:desk:state``), and
    :meth:`submit` to ask the hub to record. The dashboard's desk screens read it as they
    read a local :class:`IncidentDesk`; a role that may not record is refused here, before
    anything is sent."""

    remote = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "racetui",
        operator: str = "operator",
        role: str | None = None,
        confirmed: Callable[[int], bool] | None = None,
        settings: DeskConfig | None = None,
    ) -> None:
        self.url = url
        self.settings = settings or DeskConfig()
        self.keys = desk_keys(prefix)
        self.operator = operator
        self.role = role
        self.allowed = may_record(role)
        self.confirmed = confirmed  # True once the replica applied the hub's frame of that seq
        self.event = None
        self.in_flight: dict[str, str] = {}  # request id → what it asks, until the hub confirms
        self._event_text = "the hub's desk"
        self._audit: list[DeskAction] = []
        self._state: bytes | None = None
        self._client: Any = None
        self._blocking: Any = None

    # ------------------------------------------------------ IncidentDesk's reads
    @property
    def event_text(self) -> str:
        return self._event_text

    def bind(self, event: EventKey | None) -> bool:
        return False  # the hub binds its desk to its event

    def apply(self, pipeline: Any, race_id: str | None = None, bib: str | None = None) -> ChangeSet:
        return ChangeSet()  # the hub applies: its frames carry the desk's word

    def audit(self, race_id: str | None = None, bib: str | None = None) -> list[DeskAction]:
        return [
            a
            for a in self._audit
            if (race_id is None or a.race_id == race_id) and (bib is None or a.bib == bib)
        ]

    def boxes(self, race_id: str) -> list[str]:
        return self.settings.boxes_for(race_id)

    def penalties(self, race_id: str) -> dict[str, int]:
        return self.settings.penalties_for(race_id)

    def history(self, race_id: str | None = None, bib: str | None = None) -> list[DeskEntry]:
        by_athlete: dict[tuple[str, str], list[DeskAction]] = {}
        for act in self.audit(race_id, bib):
            by_athlete.setdefault((act.race_id, act.bib), []).append(act)
        found = [e for acts in by_athlete.values() for e in fold(acts).values()]
        return sorted(found, key=lambda e: e.id)

    def entries_of(self, race_id: str, bib: str) -> list[DeskEntry]:
        return [e for e in self.history(race_id, bib) if e.standing]

    def entry(self, race_id: str, bib: str, ident: int) -> DeskEntry | None:
        return next((e for e in self.history(race_id, bib) if e.id == ident), None)

    def pending(self, race_id: str | None = None) -> list[DeskEntry]:
        return [e for e in self.history(race_id) if e.desk_only]

    def due(self, race_id: str | None = None) -> list[DeskEntry]:
        return [e for e in self.history(race_id) if e.due]

    def record(self, *args: Any, **kwargs: Any) -> DeskAction:
        raise DeskError(self.refusal() or "a viewer records through the hub (submit)")

    def refusal(self, body: dict[str, Any] | None = None) -> str | None:
        """Why this viewer may not record (this entry, with ``body``); None: it may."""
        if not self.allowed:
            if self.role:
                return f"role {self.role}: read-only viewer (desk entries need --role td or timer)"
            return "read-only viewer: start it with --role td (or timer for DNS/DNF/LAP) to record"
        if body is None:
            return None
        action = str(body.get("action"))
        target = body.get("target")
        entry = (
            self.entry(str(body.get("race_id")), str(body.get("bib")), target)
            if isinstance(target, int)
            else None
        )
        target_kind = None if entry is None else entry.kind
        if not may_record(self.role, action, target_kind):
            return f"role {self.role}: {action} is a TD's desk entry (a timer records DNS, DNF, LAP)"
        return None

    # ------------------------------------------------------------ the state
    def load_state(self, data: bytes | None) -> bool:
        """Take the hub's published desk state; True when it changed."""
        if not data or data == self._state:
            return False
        try:
            state = json.loads(data)
            audit = [_action_from(a) for a in state.get("audit", [])]
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("the hub's desk state: not readable (%s); keeping the last one", exc)
            return False
        self._state = data
        self._event_text = str(state.get("event") or "the hub's desk")
        self._audit = audit
        return True

    async def _connect(self) -> None:
        if self._client is None:
            self._client = _client(self.url, timeout=10.0)
            self._blocking = _client(self.url, timeout=CONFIRM_TIMEOUT + 10.0)

    async def refresh(self) -> bool:
        await self._connect()
        return self.load_state(await self._client.get(self.keys["state"]))

    async def run(self, every: float = 1.0) -> None:
        """Follow the hub's desk state until cancelled."""
        while True:
            try:
                await self.refresh()
            except (RedisError, OSError) as exc:
                log.warning("redis %s: desk state: %s", safe_url(self.url), scrub(str(exc)))
                await self.close()
            await asyncio.sleep(every)

    # ------------------------------------------------------------ writing
    async def submit(self, body: dict[str, Any], *, timeout: float = CONFIRM_TIMEOUT) -> list[DeskAction]:
        """Ask the hub to record ``body`` (``race_id``, ``bib``, ``action`` and its fields);
        the actions it recorded once the replica holds the frame that carries them.

        DeskError: this viewer may not record (nothing is sent), the hub refused (the
        desk's words), or no answer came in time (the request stays queued at the hub)."""
        refusal = self.refusal(body)
        if refusal is not None:
            raise DeskError(refusal)
        ident = uuid.uuid4().hex
        what = f"bib {body.get('bib')}: {body.get('action')}"
        self.in_flight[ident] = what
        deadline = time.monotonic() + timeout
        fields = {"id": ident, "operator": self.operator, "role": str(self.role), "body": json.dumps(body)}
        try:
            reply: dict[str, Any] | None = None
            sent = False
            while reply is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeskError(
                        f"{what}: no answer from the hub within {timeout:.0f} s (still queued there)"
                    )
                try:
                    await self._connect()
                    if not sent:
                        await self._client.xadd(self.keys["requests"], fields)
                        sent = True
                    got = await self._blocking.blpop(
                        [self.keys["answer"] + ident], timeout=max(1, min(5, int(left)))
                    )
                    if got is None:
                        # a retried send carries the same id: the hub answers it once
                        stored = await self._client.hget(self.keys["answers"], ident)
                        if stored is None and not await self._queued(ident):
                            sent = False
                        continue
                    reply = json.loads(got[1])
                except (RedisError, OSError) as exc:
                    log.warning("redis %s: desk request: %s; retrying", safe_url(self.url), scrub(str(exc)))
                    await self.close()
                    sent = False  # Redis may have restarted empty: send again (same id)
                    await asyncio.sleep(0.2)
            if not reply.get("ok"):
                raise DeskError(str(reply.get("error") or "the hub refused the entry"))
            actions = [_action_from(a) for a in reply.get("actions", [])]
            seq = int(reply.get("seq") or 0)
            while self.confirmed is not None and not self.confirmed(seq):
                if time.monotonic() > deadline:
                    raise DeskError(f"{what}: recorded at the hub, its update has not arrived yet")
                await asyncio.sleep(0.05)
            with contextlib.suppress(RedisError, OSError):
                await self.refresh()
            return actions
        finally:
            self.in_flight.pop(ident, None)

    async def _queued(self, ident: str) -> bool:
        """True while the request stream still holds this request (not lost with Redis)."""
        for _id, fields in await self._client.xrevrange(self.keys["requests"], count=200):
            if fields.get(b"id", b"").decode() == ident:
                return True
        return False

    async def close(self) -> None:
        clients, self._client, self._blocking = (self._client, self._blocking), None, None
        for client in clients:
            if client is not None:
                await _close(client)
