"""Race-day fixes written back to RaceEntry or ChronoTrack Live: add an entry, change its
event or race, fix name, bib, gender, date of birth or team, delete it.

A change goes through three steps, each committed before the next:

1. :func:`stage` writes it into the start-list cache at once, marked ``pending`` (a new
   entry gets a local id ``local-<key>``): every screen and source shows it immediately.
2. The caller queues :meth:`Change.to_json` in the durable outbox (``racetui.publish``),
   keyed by :attr:`Change.key`. Nothing here imports the outbox: the publish layer's sender
   calls :meth:`StartListWriter.write` for each attempt.
3. :meth:`StartListWriter.write` sends it and records the answer: accepted, the mark goes
   (a new entry takes the service's id) and the idempotency record remembers which id the
   key produced; refused, the local change is undone and the service's own reason returned.

Neither API takes an idempotency key, so a creation that may have reached the service
before a crash (any attempt after the first) first looks for its entry there - same event or
race, same name, same bib, modified since the change was staged - and adopts its id instead
of creating it twice.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any, Literal

from racetui.sources.startlist.cache import PendingWrites, StartListCache, SyncInfo, SyncOutcome
from racetui.sources.startlist.chronotrack import ChronoTrackClient
from racetui.sources.startlist.common import (
    LOCAL_PREFIX,
    CredentialsError,
    ServiceRefused,
    ServiceUnavailable,
    StartEntry,
    StartListError,
    normalise_gender,
    text_or_none,
)
from racetui.sources.startlist.raceentry import OVERLAP, RaceEntryClient

__all__ = [
    "ACTIONS",
    "EDITABLE",
    "Change",
    "StartListWriter",
    "WriteAnswer",
    "find_list",
    "prepare",
    "stage",
]

log = logging.getLogger(__name__)

Action = Literal["add", "edit", "move", "delete"]
ACTIONS: tuple[Action, ...] = ("add", "edit", "move", "delete")
#: What an edit may change (the sport's words; mapped to each API's fields on sending).
EDITABLE = ("first_name", "last_name", "bib", "gender", "dob", "team_id", "team")


@dataclass(frozen=True, slots=True)
class Change:
    """One race-day change, as queued (JSON, no secrets).

    ``remote`` is the RaceEntry race id or the ChronoTrack event id; ``list_key`` the cached
    list it is staged in; ``entry_id`` the entry (a local id for an entry created here);
    ``event`` the RaceEntry event / ChronoTrack race an added entry goes to or an entry
    moves to; ``fields`` what an add or edit sets; ``before`` the entry as it was (restored
    if the service refuses); ``since`` the list's watermark when staged (the service's
    clock), from which a re-sent creation looks for itself.
    """

    action: Action
    source: str
    remote: str
    list_key: str
    entry_id: str
    key: str
    event: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    before: dict[str, Any] | None = None
    since: int | None = None
    staged_at: float = 0.0

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Change:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("action") not in ACTIONS:
            raise ValueError("not a start-list change")
        return cls(**data)

    def describe(self) -> str:
        """One line for screens and the outbox: what, to whom (no secret)."""
        before = StartEntry(**self.before) if self.before else None
        who = _who(self.fields, before)
        service = "RaceEntry" if self.source == "raceentry" else "ChronoTrack"
        where = f"race {self.remote}" if self.source == "raceentry" else f"event {self.remote}"
        if self.action == "add":
            return f"{service} {where}: add {who} to {self._event_word()} {self.event}"
        if self.action == "move":
            return f"{service} {where}: move {who} to {self._event_word()} {self.event}"
        if self.action == "delete":
            return f"{service} {where}: delete {who}"
        changed = ", ".join(f"{k} {v!r}" for k, v in self.fields.items())
        return f"{service} {where}: edit {who}: {changed}"

    def _event_word(self) -> str:
        return "event" if self.source == "raceentry" else "race"


def _who(fields: Mapping[str, Any], before: StartEntry | None) -> str:
    first = fields.get("first_name", before.first_name if before else "")
    last = fields.get("last_name", before.last_name if before else "")
    bib = fields.get("bib", before.bib if before else "")
    name = " ".join(p for p in (first, last) if p) or (before.name if before else "") or "?"
    return f"{name} (bib {bib})" if bib else name


@dataclass(frozen=True, slots=True)
class WriteAnswer:
    """What one attempt gave, in the publish layer's terms: ``outcome`` is ``"done"``,
    ``"retry"`` (no answer or a temporary one), ``"refused"`` (the service said no:
    ``message`` carries its reason; the local change was undone) or ``"hold"``
    (credentials refused: nothing more can go until someone fixes them)."""

    outcome: Literal["done", "retry", "refused", "hold"]
    message: str
    status_code: int | None = None
    retry_after: float | None = None
    service_id: str | None = None


# ------------------------------------------------------------------ staging
def find_list(
    cache: StartListCache, source: str, remote: str, *, event: str | None = None
) -> SyncInfo | None:
    """The cached list of this remote race/event that wants ``event`` (an unfiltered one
    first); None when none was synced yet."""
    container = f"race {remote}" if source == "raceentry" else f"event {remote}"
    lists = [s for s in cache.syncs() if s.source == source and s.container == container]
    for info in sorted(lists, key=lambda s: (bool(s.wanted), s.source_key)):
        if event is None or not info.wanted or event in info.wanted:
            return info
    return None


def _validate(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an add or edit, checked: a clear ``ValueError`` names the bad one."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in EDITABLE:
            raise ValueError(f"{name}: not something a start-list change can set")
        if value is None:
            continue
        text = str(value).strip()
        if name in ("first_name", "last_name", "bib") and not text:
            raise ValueError(f"{name}: empty")
        if name == "gender":
            gender = normalise_gender(text)
            if gender is None:
                raise ValueError(f"gender: {text!r} is not M, F or X")
            text = gender
        if name == "dob":
            try:
                born = date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"dob: {text!r} is not a YYYY-MM-DD date") from None
            if born > date.today():
                raise ValueError(f"dob: {text} is in the future")
            text = born.isoformat()
        out[name] = text
    return out


def _age(dob: str | None) -> int | None:
    if not dob:
        return None
    born, today = date.fromisoformat(dob), date.today()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def stage(cache: StartListCache, **what: Any) -> tuple[Change, SyncOutcome]:
    """:func:`prepare` and write the staged entry into the cache at once (for callers that
    queue the change right after; the CLI queues first, then stages)."""
    change, entry = prepare(cache, **what)
    return change, PendingWrites(cache).stage(change.source, change.list_key, entry)


def prepare(
    cache: StartListCache,
    *,
    action: Action,
    source: str,
    remote: str,
    entry_id: str | None = None,
    bib: str | None = None,
    event: str | None = None,
    fields: Mapping[str, Any] | None = None,
    list_key: str | None = None,
) -> tuple[Change, StartEntry]:
    """The change for the outbox and the entry as the cache must show it meanwhile
    (marked pending); nothing is written. ``entry_id`` or ``bib`` picks the entry of an
    edit, move or delete. Raises ``ValueError`` naming what is wrong."""
    values = _validate(fields or {})
    key = uuid.uuid4().hex
    if action == "add":
        if not event:
            raise ValueError("add: the event (RaceEntry) or race (ChronoTrack) to add to is required")
        for needed in ("first_name", "last_name", "bib"):
            if needed not in values:
                raise ValueError(f"add: {needed} is required")
        info = _list(cache, source, remote, list_key, event)
        entry = StartEntry(
            entry_id=f"{LOCAL_PREFIX}{key}",
            race_id=info.target or event if info else event,
            bib=values["bib"],
            event_id=event,
            first_name=values["first_name"],
            last_name=values["last_name"],
            gender=values.get("gender"),
            age=_age(values.get("dob")),
            team_id=values.get("team_id"),
            team=values.get("team") or _team_name(cache, source, info, values.get("team_id")),
            dob=values.get("dob"),
            pending="add",
        )
        key_of_list = info.source_key if info else _default_key(source, remote)
        change = Change(
            "add",
            source,
            remote,
            key_of_list,
            entry.entry_id,
            key,
            event,
            values,
            None,
            info.watermark if info else None,
            time.time(),
        )
        return change, entry
    current, info = _current(cache, source, remote, entry_id, bib, list_key)
    if current.pending is not None:
        raise ValueError(
            f"entry {current.entry_id} (bib {current.bib}) has a change not yet answered "
            f"({current.pending}); wait for it"
        )
    before = asdict(current)
    if action == "delete":
        staged = replace(current, pending="delete")
    elif action == "move":
        if not event:
            raise ValueError("move: the event (RaceEntry) or race (ChronoTrack) to move to is required")
        if event == current.event_id:
            raise ValueError(f"move: entry {current.entry_id} is already in {event}")
        target = info.target if (not info.wanted or event in info.wanted) else None
        sibling = find_list(cache, source, remote, event=event)
        race = target or (sibling.target if sibling else None) or event
        staged = replace(current, event_id=event, race_id=race, pending="move")
    else:
        if not values:
            raise ValueError("edit: nothing to change")
        team = values.get("team")
        if "team_id" in values and team is None:
            team = _team_name(cache, source, info, values["team_id"])
        staged = replace(
            current,
            first_name=values.get("first_name", current.first_name),
            last_name=values.get("last_name", current.last_name),
            bib=values.get("bib", current.bib),
            gender=values.get("gender", current.gender),
            dob=values.get("dob", current.dob),
            age=_age(values["dob"]) if "dob" in values else current.age,
            team_id=values.get("team_id", current.team_id),
            team=team if ("team" in values or "team_id" in values) else current.team,
            pending="edit",
        )
    change = Change(
        action,
        source,
        remote,
        info.source_key,
        current.entry_id,
        key,
        event,
        values,
        before,
        info.watermark,
        time.time(),
    )
    return change, staged


def _default_key(source: str, remote: str) -> str:
    return f"race {remote}" if source == "raceentry" else f"event {remote}"


def _list(
    cache: StartListCache, source: str, remote: str, list_key: str | None, event: str | None
) -> SyncInfo | None:
    if list_key is not None:
        return cache.sync_info(source, list_key)
    return find_list(cache, source, remote, event=event)


def _team_name(cache: StartListCache, source: str, info: SyncInfo | None, team_id: str | None) -> str | None:
    if not team_id or info is None:
        return None
    return next((t.name for t in cache.teams(source, info.source_key) if t.team_id == team_id), None)


def _current(
    cache: StartListCache,
    source: str,
    remote: str,
    entry_id: str | None,
    bib: str | None,
    list_key: str | None,
) -> tuple[StartEntry, SyncInfo]:
    container = _default_key(source, remote)
    lists = [
        s
        for s in cache.syncs()
        if s.source == source and s.container == container and (list_key is None or s.source_key == list_key)
    ]
    if not lists:
        raise ValueError(
            f"no cached start list of {container} "
            f"({'RaceEntry' if source == 'raceentry' else 'ChronoTrack'}): sync it first"
        )
    found: list[tuple[StartEntry, SyncInfo]] = []
    for info in lists:
        for entry in cache.entries(source, info.source_key):
            if (entry_id is not None and entry.entry_id == entry_id) or (
                entry_id is None and bib is not None and entry.bib == bib
            ):
                found.append((entry, info))
    if not found:
        what = f"entry {entry_id}" if entry_id is not None else f"bib {bib}"
        raise ValueError(f"{what}: not in the cached start list of {container}")
    if len({e.entry_id for e, _ in found}) > 1:
        ids = ", ".join(sorted({e.entry_id for e, _ in found}))
        raise ValueError(f"bib {bib}: more than one entry ({ids}); name it with its entry id")
    return found[0]


# ------------------------------------------------------------------ sending
class StartListWriter:
    """Sends queued changes of one service with its client and records the answers in the
    cache. ``write`` never raises for the service's trouble: it answers."""

    def __init__(
        self, client: RaceEntryClient | ChronoTrackClient, cache: StartListCache | None = None
    ) -> None:
        self.client = client
        self.cache = cache or StartListCache()
        self.pending = PendingWrites(self.cache)
        self.source = "raceentry" if isinstance(client, RaceEntryClient) else "chronotrack"
        self.created = 0  # creations actually sent (a test counts them)
        self.adopted = 0  # creations found already done on the service after a crash

    def destination(self) -> str:
        return str(getattr(self.client, "base_url", self.source))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def write(self, raw: bytes | str, *, attempt: int = 1) -> WriteAnswer:
        """One attempt at the change ``raw`` (:meth:`Change.to_json`); ``attempt`` > 1
        means an earlier one may have reached the service."""
        try:
            change = Change.from_json(raw)
        except (ValueError, TypeError) as exc:
            return WriteAnswer("refused", f"unreadable start-list change: {exc}")
        if change.source != self.source:
            return WriteAnswer("refused", f"a {change.source} change cannot go to {self.source}")
        done = self.pending.service_id(change.key)
        if done is not None:  # answered before a crash: only the bookkeeping was left
            await self._confirm(change, done)
            return WriteAnswer("done", f"{change.describe()}: already done ({done})", service_id=done)
        try:
            service_id = await self._send(change, attempt)
        except _Waiting as exc:
            return WriteAnswer("retry", str(exc))
        except CredentialsError as exc:
            return WriteAnswer("hold", str(exc))
        except ServiceRefused as exc:
            await self._revert(change)
            reason = exc.reason or str(exc)
            return WriteAnswer(
                "refused", f"{change.describe()}: refused: {reason}; the local change was undone", exc.status
            )
        except ServiceUnavailable as exc:
            return WriteAnswer("retry", str(exc), exc.status, exc.retry_after)
        except StartListError as exc:
            return WriteAnswer("retry", str(exc))
        await self._confirm(change, service_id)
        return WriteAnswer("done", f"{change.describe()}: done ({service_id})", 200, service_id=service_id)

    async def _confirm(self, change: Change, service_id: str) -> None:
        import asyncio

        await asyncio.to_thread(
            self.pending.confirm,
            change.source,
            change.list_key,
            change.entry_id,
            key=change.key,
            service_id=service_id,
        )

    async def _revert(self, change: Change) -> None:
        import asyncio

        before = StartEntry(**change.before) if change.before else None
        await asyncio.to_thread(self.pending.revert, change.source, change.list_key, change.entry_id, before)

    def _remote_id(self, change: Change) -> str:
        found = self.pending.resolve(change.source, change.list_key, change.entry_id)
        if found is None:
            raise _Waiting(f"{change.describe()}: waits for the entry's creation to be answered")
        return found

    async def _send(self, change: Change, attempt: int) -> str:
        if isinstance(self.client, RaceEntryClient):
            return await self._raceentry(self.client, change, attempt)
        return await self._chronotrack(self.client, change, attempt)

    # ---------------------------------------------------------------- RaceEntry
    async def _raceentry(self, client: RaceEntryClient, change: Change, attempt: int) -> str:
        race, values = change.remote, change.fields
        if change.action == "add":
            if attempt > 1 and (found := await self._find_raceentry(client, change)) is not None:
                self.adopted += 1
                return found
            user: dict[str, Any] = {"first_name": values["first_name"], "last_name": values["last_name"]}
            for name in ("dob", "gender", "team_id"):
                if values.get(name):
                    user[name] = values[name]
            item: dict[str, Any] = {"registration_id": "", "user": user, "event_id": int(change.event or 0)}
            # bib_num is not among the documented POST fields; RaceEntry shows it on every
            # participant it returns, so it is sent alongside (a server may ignore it).
            item["bib_num"] = values["bib"]
            self.created += 1
            return (await client.save_participants(race, [item]))[0]
        registration = self._remote_id(change)
        if change.action == "move":
            await client.switch_events(race, [(registration, str(change.event))])
            return registration
        if change.action == "delete":
            await client.delete_participants(race, [registration])
            return registration
        before = StartEntry(**change.before) if change.before else None
        user = {
            "first_name": values.get("first_name", before.first_name if before else ""),
            "last_name": values.get("last_name", before.last_name if before else ""),
        }
        for name in ("dob", "gender", "team_id"):
            if name in values:
                user[name] = values[name]
        item = {"registration_id": registration, "user": user}
        if before is not None and before.event_id:
            item["event_id"] = int(before.event_id)
        if "bib" in values:
            item["bib_num"] = values["bib"]
        await client.save_participants(race, [item])
        return registration

    async def _find_raceentry(self, client: RaceEntryClient, change: Change) -> str | None:
        since = max(0, (change.since or 0) - OVERLAP)
        found = []
        for record in await client.participants(change.remote, since):
            user = record.get("user")
            names = user if isinstance(user, Mapping) else {}
            found.append(
                (
                    record.get("registration_id"),
                    record.get("event_id"),
                    names.get("first_name"),
                    names.get("last_name"),
                    record.get("bib_num"),
                )
            )
        return _created_before(change, found, "RaceEntry", "registration")

    # -------------------------------------------------------------- ChronoTrack
    _CT_FIELDS = {
        "first_name": "athlete_first_name",
        "last_name": "athlete_last_name",
        "bib": "entry_bib",
        "gender": "athlete_sex",
        "dob": "athlete_birthdate",
        "team": "team_name",
        "team_id": "team_id",
    }

    async def _chronotrack(self, client: ChronoTrackClient, change: Change, attempt: int) -> str:
        mapped = {self._CT_FIELDS[k]: v for k, v in change.fields.items()}
        if change.action == "add":
            if attempt > 1 and (found := await self._find_chronotrack(client, change)) is not None:
                self.adopted += 1
                return found
            self.created += 1
            return (await client.post_entries(change.remote, [{**mapped, "race_id": change.event}]))[0]
        entry = self._remote_id(change)
        if change.action == "move":
            await client.put_entry(entry, {"race_id": change.event})
        elif change.action == "delete":
            await client.delete_entry(entry)
        else:
            await client.put_entry(entry, mapped)
        return entry

    async def _find_chronotrack(self, client: ChronoTrackClient, change: Change) -> str | None:
        since = max(0, (change.since or 0) - OVERLAP) if change.since else None
        records, _ = await client.entries(change.remote, since)
        found = [
            (
                record.get("entry_id"),
                record.get("race_id"),
                record.get("athlete_first_name"),
                record.get("athlete_last_name"),
                record.get("entry_bib"),
            )
            for record in records
            if isinstance(record, Mapping)
        ]
        return _created_before(change, found, "ChronoTrack", "entry")


class _Waiting(StartListError):
    """The change depends on one not yet answered (an edit of an entry being created)."""


def _created_before(
    change: Change, found: Iterable[tuple[object, object, object, object, object]], service: str, what: str
) -> str | None:
    """The id of the entry an earlier attempt of ``change`` already created (its answer was
    lost): same event, names and bib. ``found`` holds (id, event, first, last, bib) rows."""
    for ident, event, first, last, bib in found:
        if (
            text_or_none(event) == change.event
            and _same(first, change.fields.get("first_name"))
            and _same(last, change.fields.get("last_name"))
            and _same_bib(bib, change.fields.get("bib"))
        ):
            log.warning("%s: %s was already created (%s %s)", service, change.describe(), what, ident)
            return text_or_none(ident)
    return None


def _same(a: object, b: object) -> bool:
    return (text_or_none(a) or "").casefold() == (text_or_none(b) or "").casefold()


def _same_bib(found: object, sent: object) -> bool:
    """The bib matches, or the service kept none (RaceEntry may ignore ``bib_num``)."""
    return text_or_none(found) is None or text_or_none(found) == text_or_none(sent)
