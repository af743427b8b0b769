"""Publish World Triathlon Live Timing v1.1 messages, by POST or as a hosted file.

:class:`TriathlonPublisher` builds each race's complete message (via
:func:`racetui.publish.v11.build_message`, so BBT races work too) and queues it in the
outbox only when it differs from the last one queued for that race, ignoring ``date``.
In live mode it listens to the pipeline's change sets and builds at most once per send
slot: with the sender's ``min_interval`` of 1 s a burst of passings becomes one message
a second, and a message still waiting is superseded by the newer one (never sent stale).

Delivery (:class:`TriathlonSender`) is ``POST`` with ``Content-Type: application/json``
and the ``apikey`` header added at send time; :class:`FileSender` writes the message
atomically to a path for the hosted-file option.

``official`` is never inferred: :meth:`TriathlonPublisher.mark_official` is the explicit
action and requires ``confirmed=True``. ``sandbox`` is on until :meth:`set_sandbox` turns
it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import SecretStr

from racetui.engine import ChangeSet, Engine
from racetui.engine.standings import READ_SLICE
from racetui.model import ClockState
from racetui.publish.outbox import (
    ItemState,
    OutboxItem,
    Outcome,
    PublishDiff,
    PublishError,
    PublishService,
    SendResult,
    classify_response,
    diff_rows,
    render_diff,
    transport_failure,
)
from racetui.util.files import Spool, write_atomic
from racetui.util.heap import collector_paused
from racetui.util.secrets import reveal, scrub

if TYPE_CHECKING:
    import httpx

    from racetui.engine import Pipeline, RaceStandings, StandingsSnapshot
    from racetui.publish.v11 import Prepared

# ``progress(read, total)``: athletes read off the engine so far, while a message is read in
# slices (called between slices only, when the read takes more than one).
Progress = Callable[[int, int], None]

__all__ = [
    "DEFAULT_API_URL",
    "TARGET_FILE",
    "TARGET_POST",
    "BuiltMessage",
    "FileSender",
    "MessagePreview",
    "Program",
    "TriathlonPublisher",
    "TriathlonSender",
    "message_fields",
    "message_rows",
]

log = logging.getLogger("racetui.publish.triathlon")

DEFAULT_API_URL = "https://api.triathlon.org/v1/timing"
TARGET_POST = "triathlon"
TARGET_FILE = "triathlon-file"
NO_APIKEY = (
    "no World Triathlon API key: set RACETUI_TRIATHLON_APIKEY or triathlon.apikey in the config (chmod 600)"
)


# ================================================================= senders


class TriathlonSender:
    """POSTs v1.1 messages with ``apikey`` (added here, never stored in the outbox)."""

    name = TARGET_POST

    def __init__(
        self,
        apikey: SecretStr | str | None,
        *,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
        min_interval: float = 1.0,
    ) -> None:
        self._apikey = reveal(apikey) or None
        self.api_url = api_url
        self.timeout = timeout
        self.min_interval = min_interval
        self._client: httpx.AsyncClient | None = None

    def destination(self) -> str:
        return self.api_url

    def set_apikey(self, apikey: SecretStr | str | None) -> None:
        """A new key (the user fixed it); call :meth:`PublishService.resume` afterwards."""
        self._apikey = reveal(apikey) or None

    def secrets(self) -> list[str]:
        return [self._apikey] if self._apikey else []

    async def send(self, item: OutboxItem) -> SendResult:
        import httpx

        if not self._apikey:
            return SendResult(Outcome.FAILED, None, NO_APIKEY, hold=True)
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        headers = {**item.headers, "Content-Type": "application/json", "apikey": self._apikey}
        # Streamed from the outbox a piece at a time (at 50,000 athletes the message is 47 MB),
        # with its length given: the v1.1 standard says nothing of chunked uploads, so the
        # request is what a plain POST of the bytes would be.
        headers["Content-Length"] = str(item.size)
        try:
            response = await self._client.request(
                item.method, item.url, content=item.stream(), headers=headers
            )
        except httpx.HTTPError as exc:
            result = transport_failure(exc)
            return SendResult(result.outcome, None, scrub(result.message, self.secrets()))
        return classify_response(
            response.status_code,
            response.text,
            reason=response.reason_phrase,
            retry_after=response.headers.get("retry-after"),
            secrets=self.secrets(),
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class FileSender:
    """The hosted-file option: each message replaces the file atomically."""

    name = TARGET_FILE

    def __init__(self, *, min_interval: float = 1.0) -> None:
        self.min_interval = min_interval

    def destination(self) -> str:
        return "hosted file"

    async def send(self, item: OutboxItem) -> SendResult:
        path = Path(item.url)
        try:
            await asyncio.to_thread(lambda: write_atomic(path, item.chunks()))
        except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            return SendResult(Outcome.FAILED, None, f"cannot write {path}: {exc.strerror or exc}", hold=True)
        except OSError as exc:
            return SendResult(Outcome.RETRY, None, f"cannot write {path}: {exc.strerror or exc}")
        return SendResult(Outcome.SENT, None, f"wrote {path}", f"{item.size} bytes")

    async def aclose(self) -> None:
        return None


# =============================================================== messages


@dataclass(frozen=True, slots=True)
class Program:
    """A racetui race as World Triathlon knows it."""

    race_id: str
    event_id: str
    event_name: str
    prog_id: str
    prog_name: str


@dataclass(frozen=True, slots=True)
class BuiltMessage:
    """One v1.1 message, held as its bytes only, and those in a :class:`Spool` (on disk past
    1 MiB: at 50,000 athletes the bytes are 47 MB, the decoded message several times that,
    and the outbox copies the spool a piece at a time): ``header`` is the message without
    its athletes or teams, ``rows`` what the preview shows per athlete."""

    program: Program
    status: str
    header: dict[str, Any]
    spool: Spool
    content_hash: str  # of the message without ``date``
    group: str
    rows: dict[str, str]
    fields: dict[str, str | None]

    @property
    def body(self) -> bytes:
        """The message's bytes, whole (a dry run, tests: what is queued is :attr:`spool`)."""
        return self.spool.getvalue()

    @property
    def message(self) -> dict[str, Any]:
        """The whole message, decoded from ``body`` (a dry run prints it)."""
        decoded: dict[str, Any] = orjson.loads(self.body)
        return decoded

    @property
    def summary(self) -> str:
        count = self.header.get("num_athletes") or self.header.get("num_teams") or "0"
        noun = "teams" if "num_teams" in self.header else "athletes"
        sandbox = " sandbox" if self.header.get("sandbox") == "true" else ""
        return (
            f"{self.program.prog_name} (prog {self.program.prog_id}) {self.status}{sandbox}, {count} {noun}"
        )


@dataclass(frozen=True, slots=True)
class MessagePreview:
    built: BuiltMessage
    diff: PublishDiff
    changed: bool  # differs from the last message queued or sent for this race
    destination: str

    def render(self, *, limit: int = 15) -> str:
        title = f"{self.built.summary} -> {self.destination}"
        text = render_diff(self.diff, title=title, limit=limit)
        if not self.changed:
            text += "\n  (same as the last message queued; nothing to send)"
        return text


class _ContentHash:
    """SHA-256 of the message without ``date`` (its first field), read off its bytes as they
    are encoded: the same as hashing the encoding of the message with ``date`` left out.
    The first piece holds the whole header (:meth:`Prepared.parts`)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256(b"{")
        self._first = True

    def update(self, piece: bytes) -> None:
        if self._first:
            if not piece.startswith(b'{"date":'):
                raise ValueError("a v1.1 message starts with its date")
            end = piece.index(b'",', 9) + 2  # an ISO date holds no quote
            self._digest.update(memoryview(piece)[end:])
            self._first = False
        else:
            self._digest.update(piece)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def _row_value(record: Mapping[str, Any]) -> str:
    parts: list[str] = []
    if record.get("status"):
        parts.append(str(record["status"]))
    if record.get("segment_id") is not None:
        parts.append(f"seg {record['segment_id']}")
    if record.get("time"):
        parts.append(str(record["time"]))
    if record.get("position") is not None:
        parts.append(f"pos {record['position']}")
    if record.get("incidents"):
        parts.append(f"({record['incidents']})")
    return " ".join(parts) or "no time yet"


def message_rows(message: Mapping[str, Any]) -> dict[str, str]:
    """Start number -> what the preview shows for that athlete (or relay team)."""
    records = message.get("athletes") or message.get("teams") or []
    rows: dict[str, str] = {}
    for record in records:
        _add_row(rows, record)
    return rows


def _add_row(rows: dict[str, str], record: Mapping[str, Any]) -> None:
    bib = record.get("start_num")
    if bib is not None:
        rows[str(bib)] = _row_value(record)


_FIELDS = ("status", "sandbox", "event_id", "prog_id", "prog_name", "start_time", "wetsuit")


def message_fields(message: Mapping[str, Any]) -> dict[str, str | None]:
    """The top-level values a preview compares (besides athletes)."""
    fields = {name: (None if message.get(name) is None else str(message.get(name))) for name in _FIELDS}
    conditions = message.get("conditions") or {}
    fields["air_temp"] = None if conditions.get("air_temp") is None else str(conditions["air_temp"])
    fields["water_temp"] = None if conditions.get("water_temp") is None else str(conditions["water_temp"])
    return fields


# ============================================================== publisher


class TriathlonPublisher:
    """Builds and queues v1.1 messages for the races of an engine.

    ``destination`` is the POST URL, or with ``hosted_file=True`` a file path (``{prog_id}``
    and ``{race_id}`` are replaced, so several races can be hosted side by side).
    ``programs`` maps racetui race ids to prog_ids (else ``Race.external_id``, the prog_id a
    v1.1 feed carries); ``event_id``/``event_name`` default to the engine's event.
    """

    def __init__(
        self,
        engine: Engine,
        service: PublishService,
        *,
        destination: str = DEFAULT_API_URL,
        hosted_file: bool = False,
        event_id: str | None = None,
        event_name: str | None = None,
        programs: Mapping[str, str] | None = None,
        sandbox: bool = True,
        races: Sequence[str] | None = None,
        millis: bool = True,
        debounce: float = 0.05,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.service = service
        self.destination = destination
        self.hosted_file = hosted_file
        self.target = TARGET_FILE if hosted_file else TARGET_POST
        self.event_id = event_id
        self.event_name = event_name
        self.programs = dict(programs or {})
        self.sandbox = sandbox
        self.races = list(races) if races is not None else None
        self.millis = millis
        self.debounce = debounce
        self.errors: list[str] = []  # build problems in live mode, newest last (bounded)
        self.read_slice = READ_SLICE  # athletes read off the engine per loop step
        self._now = now or (lambda: datetime.now(UTC))
        self._official: set[str] = set()
        self._last_hash: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._event = asyncio.Event()
        self._pipeline: Pipeline | None = None

    # ----------------------------------------------------------- settings
    def set_sandbox(self, sandbox: bool) -> None:
        """Turn the v1.1 ``sandbox`` flag on or off (it is on until the user turns it off)."""
        if sandbox != self.sandbox:
            self.sandbox = sandbox
            self._dirty.update(self.race_ids())
            self._event.set()

    def race_ids(self) -> list[str]:
        if self.races is not None:
            return [race_id for race_id in self.races if race_id in self.engine.races]
        return list(self.engine.races)

    def is_official(self, race_id: str) -> bool:
        return race_id in self._official

    def program(self, race_id: str) -> Program:
        """The race's World Triathlon ids; :class:`PublishError` names what is missing."""
        try:
            standings = self.engine.race(race_id)
        except KeyError:
            raise PublishError(f"race {race_id!r}: no such race in the current data") from None
        race = standings.race
        event = self.engine.event
        prog_id = self.programs.get(race_id) or race.external_id or (race.id if self.hosted_file else None)
        if not prog_id:
            raise PublishError(
                f"race {race_id!r} ({race.name}): no World Triathlon prog_id; "
                f"set triathlon.programs.{race_id} in the config or pass --prog-id"
            )
        event_id = self.event_id or (event.id if event is not None else None)
        if not event_id:
            raise PublishError(
                "no World Triathlon event_id: set triathlon.event_id in the config or pass --event-id"
            )
        event_name = self.event_name or (event.name if event is not None else "") or ""
        if not self.hosted_file:
            # The Triathlon API knows events and programs by integer ids: anything else is a
            # timing system's own id that slipped through (BBT's event is "bbt").
            if not str(event_id).isdigit():
                raise PublishError(
                    f"event_id {event_id!r} is not a World Triathlon event id (an integer): "
                    "set triathlon.event_id in the config or pass --event-id"
                )
            if not str(prog_id).isdigit():
                raise PublishError(
                    f"race {race_id!r} ({race.name}): prog_id {prog_id!r} is not a World Triathlon "
                    f"program id (an integer): set triathlon.programs.{race_id} or pass --prog-id"
                )
        return Program(race_id, str(event_id), event_name, str(prog_id), race.name)

    def placeholders(self) -> list[str]:
        """Warnings for an ``event_id`` or ``event_name`` that nobody configured.

        Without ``triathlon.event_id`` / ``--event-id`` the message carries the timing
        system's own event id (BBT's is ``bbt``) and the source's name for the event
        (``BBT 127.0.0.1:…``): the Publish screen says so before anything is sent."""
        event = self.engine.event
        out = []
        if not self.event_id:
            shown = repr(event.id) if event is not None else "none"
            out.append(
                f"event_id {shown} is the source's placeholder, not a World Triathlon event: "
                "set triathlon.event_id in the config or pass --event-id"
            )
        if not self.event_name:
            shown = repr(event.name) if event is not None else "none"
            out.append(f"event_name {shown} comes from the source: set triathlon.event_name in the config")
        return out

    def status_of(self, race_id: str, standings: RaceStandings | StandingsSnapshot | None = None) -> str:
        """``official`` only after :meth:`mark_official`; ``live`` once the gun went or
        anyone passed a point; ``prerace`` before (of ``standings``: the engine's, or a
        snapshot of them)."""
        if race_id in self._official:
            return "official"
        if standings is None:
            standings = self.engine.race(race_id)
        clock = standings.race.clock
        if clock is not None and clock.state in (ClockState.LIVE, ClockState.OFFICIAL):
            return "live"
        if standings.latest_point() >= 0:
            return "live"
        return "prerace"

    def url_for(self, program: Program) -> str:
        if not self.hosted_file:
            return self.destination
        path = self.destination.replace("{prog_id}", program.prog_id).replace("{race_id}", program.race_id)
        return str(Path(path).expanduser().absolute())

    def group_for(self, program: Program) -> str:
        if self.hosted_file:
            return f"{TARGET_FILE}:{self.url_for(program)}"
        return f"{TARGET_POST}:{program.prog_id}"

    # -------------------------------------------------------------- build
    def build(self, race_id: str, *, status: str | None = None) -> BuiltMessage:
        return self._built(*self._prepare(race_id, status))

    def _prepare(self, race_id: str, status: str | None) -> tuple[Program, str, Prepared]:
        """What reads the engine (on the thread that changes it): the rest is encoding."""
        program = self.program(race_id)
        standings = self.engine.race(race_id)
        status = status or self.status_of(race_id, standings)
        return program, status, self._prepared(program, status, standings, self.sandbox)

    def _prepared(
        self,
        program: Program,
        status: str,
        standings: RaceStandings | StandingsSnapshot,
        sandbox: bool,
    ) -> Prepared:
        """The message read off ``standings``: the engine's (on the loop), or a snapshot of
        them (anywhere: it is the snapshot's own copies)."""
        from racetui.publish.v11 import prepare_message

        race = standings.race
        return prepare_message(
            standings,
            event_id=program.event_id,
            event_name=program.event_name,
            prog_id=program.prog_id,
            prog_name=program.prog_name,
            status=status,
            sandbox=sandbox,
            date=self._now(),
            start_time=race.clock.gun_time if race.clock is not None else None,
            wetsuit=race.wetsuit,
            air_temp=race.air_temp,
            water_temp=race.water_temp,
            millis=self.millis,
        )

    async def read_off_loop(self, race_id: str, progress: Progress | None = None) -> StandingsSnapshot:
        """The race's standings at one engine version, read a slice of athletes at a time
        (:class:`racetui.engine.SnapshotReader`), the loop free between slices: the
        dashboard's replica goes on applying the hub's frames, and the snapshot is the
        standings after the last slice's (athletes changed after their slice are read
        again). Standings replaced meanwhile (the race re-created) are read anew.
        ``progress`` after each slice but the last, and once more when read (``read`` ==
        ``total``) if it was called before."""
        while True:
            standings = self.engine.races.get(race_id)
            if standings is None:
                raise PublishError(f"race {race_id!r}: no such race in the current data")
            reader = standings.reader(self.read_slice)
            sliced = False
            while not reader.step():
                sliced = True
                if progress is not None:
                    progress(reader.done, reader.total)
                await asyncio.sleep(0)  # the loop's turn: keys, frames, drawing
                if self.engine.races.get(race_id) is not standings:
                    break
            else:
                snapshot = reader.result
                assert snapshot is not None
                if sliced and progress is not None:
                    progress(len(snapshot), len(snapshot))
                return snapshot

    async def _built_off_loop(self, race_id: str, progress: Progress | None = None) -> BuiltMessage:
        """:meth:`build`, the engine read in slices (:meth:`read_off_loop`), the message's
        header read right after the last one (no await between: the same version), the
        rest in a worker thread."""
        self.program(race_id)  # a race that cannot be published says so before a long read
        snapshot = await self.read_off_loop(race_id, progress)
        program = self.program(race_id)  # the race's ids and names at the snapshot's version
        status = self.status_of(race_id, snapshot)
        sandbox = self.sandbox

        def build() -> BuiltMessage:
            with collector_paused():  # its full passes would walk the snapshot holding the GIL
                return self._built(program, status, self._prepared(program, status, snapshot, sandbox))

        return await asyncio.to_thread(build)

    def _built(self, program: Program, status: str, prepared: Prepared) -> BuiltMessage:
        """Encode a prepared message: reads nothing of the engine (may run in a thread).

        The pieces go to a spool beside the outbox and through the hash as they are made: the
        message is never whole in memory (neither as objects nor as bytes)."""
        rows: dict[str, str] = {}
        spool = Spool(self.service.outbox.path.parent)
        content_hash = _ContentHash()
        for piece in prepared.parts(lambda record: _add_row(rows, record)):
            spool.write(piece)
            content_hash.update(piece)
        header = prepared.header
        return BuiltMessage(
            program=program,
            status=status,
            header=header,
            spool=spool,
            content_hash=content_hash.hexdigest(),
            group=self.group_for(program),
            rows=rows,
            fields=message_fields(header),
        )

    def _previous_hash(self, group: str, *, resend_failed: bool = False) -> str | None:
        """The content hash of the last message queued for ``group`` (queued, sending, sent
        or failed). With ``resend_failed`` a failed last message does not count: a user who
        runs the command again asks to retry it."""
        if resend_failed:
            last = self.service.outbox.latest_in_group(
                group, states=(ItemState.QUEUED, ItemState.SENDING, ItemState.SENT, ItemState.FAILED)
            )
            if last is None or last.state is ItemState.FAILED:
                return None
            return str(last.meta.get("content_hash") or "") or None
        if group not in self._last_hash:
            last = self.service.outbox.latest_in_group(
                group, states=(ItemState.QUEUED, ItemState.SENDING, ItemState.SENT, ItemState.FAILED)
            )
            if last is not None and last.meta.get("content_hash"):
                self._last_hash[group] = str(last.meta["content_hash"])
        return self._last_hash.get(group)

    def preview(
        self, race_ids: Iterable[str] | None = None, *, resend_failed: bool = False
    ) -> list[MessagePreview]:
        """What publishing now would send, against the last successful upload per race."""
        return [
            self._preview(self.build(race_id), resend_failed)
            for race_id in (self.race_ids() if race_ids is None else race_ids)
        ]

    async def preview_off_loop(
        self,
        race_ids: Iterable[str] | None = None,
        *,
        resend_failed: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> list[MessagePreview]:
        """:meth:`preview` with the encoding and the comparison in a worker thread, the
        engine read in slices with the loop free between them (a 50,000-athlete message
        took 5 s to build on the loop, its engine read alone 280 ms). ``progress(race_id,
        read, total)`` while a race is read in more than one slice."""
        previews = []
        for race_id in list(self.race_ids() if race_ids is None else race_ids):
            each = None if progress is None else functools.partial(progress, race_id)
            built = await self._built_off_loop(race_id, each)
            previews.append(await asyncio.to_thread(self._preview_paused, built, resend_failed))
        return previews

    def _preview_paused(self, built: BuiltMessage, resend_failed: bool) -> MessagePreview:
        """:meth:`_preview` in a worker thread: the comparison's 50,000 rows (and the last
        upload's) set off full collector passes that would stall the loop."""
        with collector_paused():
            return self._preview(built, resend_failed)

    def _preview(self, built: BuiltMessage, resend_failed: bool) -> MessagePreview:
        baseline = self.service.outbox.baseline(built.group)
        diff = diff_rows(
            baseline[0] if baseline else None,
            built.rows,
            before_fields=baseline[1] if baseline else None,
            after_fields=built.fields,
        )
        changed = self._previous_hash(built.group, resend_failed=resend_failed) != built.content_hash
        return MessagePreview(built, diff, changed, self.url_for(built.program))

    # ------------------------------------------------------------ publish
    def enqueue(self, built: BuiltMessage) -> OutboxItem:
        item = self.service.submit(**self._item(built))
        self._last_hash[built.group] = built.content_hash
        return item

    def _item(self, built: BuiltMessage) -> dict[str, Any]:
        return {
            "target": self.target,
            "group": built.group,
            "method": "WRITE" if self.hosted_file else "POST",
            "url": self.url_for(built.program),
            "body": built.spool,
            "headers": {} if self.hosted_file else {"Content-Type": "application/json"},
            "supersedable": True,
            "summary": built.summary,
            "meta": {
                "kind": "triathlon",
                "race_id": built.program.race_id,
                "prog_id": built.program.prog_id,
                "status": built.status,
                "content_hash": built.content_hash,
                "baselines": [
                    {"key": built.group, "mode": "replace", "rows": built.rows, "fields": built.fields}
                ],
            },
        }

    def publish(
        self, race_ids: Iterable[str] | None = None, *, force: bool = False, resend_failed: bool = False
    ) -> list[OutboxItem]:
        """Queue the current message of each race that changed since the last one queued
        (``date`` ignored; ``resend_failed``: a failed last message does not count).
        Raises :class:`PublishError` when a race cannot be built."""
        items = []
        for race_id in self.race_ids() if race_ids is None else list(race_ids):
            item = self._queue_changed(self.build(race_id), force=force, resend_failed=resend_failed)
            if item is not None:
                items.append(item)
        return items

    async def publish_off_loop(self, race_id: str, progress: Progress | None = None) -> OutboxItem | None:
        """:meth:`publish` of one race with the encoding in a worker thread: the event loop
        only reads the engine, in slices (:meth:`read_off_loop`), then stays free while the
        message is formatted, encoded, hashed and written to the outbox (at 50,000 athletes
        47 MB into SQLite)."""
        built = await self._built_off_loop(race_id, progress)
        if self._previous_hash(built.group) == built.content_hash:
            return None
        self._last_hash[built.group] = built.content_hash
        return await self.service.submit_off_loop(**self._item(built))

    async def queue_previewed(self, previews: Iterable[MessagePreview]) -> list[OutboxItem]:
        """Queue the messages the user was shown (:meth:`preview_off_loop`) that changed,
        the outbox's write in a worker thread: what was confirmed is what is sent."""
        items = []
        for preview in previews:
            built = preview.built
            if not preview.changed or self._last_hash.get(built.group) == built.content_hash:
                continue
            self._last_hash[built.group] = built.content_hash
            items.append(await self.service.submit_off_loop(**self._item(built)))
        return items

    def _queue_changed(
        self, built: BuiltMessage, *, force: bool = False, resend_failed: bool = False
    ) -> OutboxItem | None:
        previous = self._previous_hash(built.group, resend_failed=resend_failed)
        if not force and previous == built.content_hash:
            return None
        return self.enqueue(built)

    def mark_official(self, race_id: str, *, confirmed: bool) -> list[OutboxItem]:
        """The explicit action: publish the race with status ``official`` (confirmed
        results). Without ``confirmed=True`` it refuses."""
        if not confirmed:
            raise PublishError(f"race {race_id!r}: marking results official needs confirmation")
        self.program(race_id)  # fail before changing anything
        self._official.add(race_id)
        return self.publish([race_id])

    def unmark_official(self, race_id: str) -> None:
        self._official.discard(race_id)

    # ---------------------------------------------------------- live mode
    def attach(self, pipeline: Pipeline) -> None:
        """Publish on every change of the pipeline (call :meth:`run` to do the work)."""
        self._pipeline = pipeline
        pipeline.listeners.append(self.on_change)

    def detach(self) -> None:
        if self._pipeline is not None:
            with contextlib.suppress(ValueError):
                self._pipeline.listeners.remove(self.on_change)
            self._pipeline = None

    def on_change(self, changes: ChangeSet) -> None:
        races = changes.races()
        if self.races is not None:
            races &= set(self.races)
        if races:
            self._dirty |= races
            self._event.set()

    def request(self, race_ids: Iterable[str] | None = None) -> None:
        """Ask the live loop to (re)consider these races (default: all)."""
        self._dirty.update(self.race_ids() if race_ids is None else race_ids)
        self._event.set()

    async def run(self) -> None:
        """Coalesce changes: build when the target can send next, queue what changed."""
        while True:
            await self._event.wait()
            await asyncio.sleep(max(self.debounce, self.service.ready_in(self.target)))
            self._event.clear()
            dirty, self._dirty = self._dirty, set()
            for race_id in sorted(dirty):
                if race_id not in self.engine.races:
                    continue
                try:
                    await self.publish_off_loop(race_id)
                except PublishError as exc:
                    if not self.errors or self.errors[-1] != str(exc):
                        log.error("publish: %s", exc)
                        self.errors.append(str(exc))
                        del self.errors[:-50]
