"""RaceEntry Timer API client and start-list fetcher.

The contract (``/work/shared/specs/raceentry-timer-api.txt``; base URL
``https://www.raceentry.com/rest``, test ``https://demo.raceentry.com/rest``):

- ``POST /login`` (form fields) answers ``{"tmp_key": ..., "tmp_secret": ..., "user": ...}``:
  a temporary pair valid about 24 hours; each login invalidates the previous pair. An
  expired pair is answered with error code 102 (or HTTP 401): we log in again once and
  repeat the request. The pair is kept in memory only.
- every other call carries ``tmp_key`` and ``tmp_secret`` as query parameters:
  ``GET /races`` (``start_date``/``end_date``, YYYY-MM-DD),
  ``GET /race/{id}/participants`` and ``GET /race/{id}/removed_participants`` (both with
  the required ``modified_after_timestamp``, unix seconds; ``0`` asks for everything),
  ``GET /race/{id}/teams``, ``GET /race/{id}/teams/team_types``.

The login section is not in the spec we were given (it says only that login returns the
pair); the form field names below (``key``, ``secret``, from racetui's config names) are
the one assumption here, kept in :attr:`RaceEntryClient.LOGIN_FIELDS`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import httpx
from pydantic import SecretStr

from racetui.sources.startlist.common import (
    CredentialsError,
    Fetched,
    ServiceRefused,
    ServiceUnavailable,
    StartEntry,
    StartListError,
    Team,
    normalise_gender,
    text_or_none,
)
from racetui.util.secrets import install_log_filter, register, reveal, scrub

__all__ = ["DEFAULT_URL", "OVERLAP", "RaceEntryClient", "RaceEntryStartList", "parse_participant"]

log = logging.getLogger(__name__)

DEFAULT_URL = "https://www.raceentry.com/rest"
EXPIRED_CODE = 102
# Incremental fetches ask from (watermark - OVERLAP): a registration saved in the same
# second as our last fetch, or committed a little late upstream, is not missed. Upserts
# are idempotent, so the overlap costs only bandwidth.
OVERLAP = 120
SERVICE = "RaceEntry"


#: Words in an error answer that mean the temporary pair is no longer good.
_EXPIRED_WORDS = ("expired", "invalid key", "invalid tmp", "not logged in", "login again", "log in again")
DEFAULT_LOGIN_FIELDS = ("key", "secret")


class RaceEntryClient:
    """Authenticated GETs against the Timer API, re-logging in when the pair expires."""

    LOGIN_PATH = "login"
    LOGIN_FIELDS = DEFAULT_LOGIN_FIELDS
    RELOGIN_AFTER = 23 * 3600.0  # the pair lives ~24 h: renew before it runs out

    def __init__(
        self,
        base_url: str,
        key: SecretStr | str | None,
        secret: SecretStr | str | None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Any = time.monotonic,
        login_fields: Sequence[str] | None = None,
    ) -> None:
        self._key = reveal(key)
        self._secret = reveal(secret)
        if not self._key or not self._secret:
            raise CredentialsError(
                "RaceEntry: no credentials: set RACETUI_RACEENTRY_KEY and RACETUI_RACEENTRY_SECRET "
                "(or raceentry_key / raceentry_secret under [startlist] in the config file)"
            )
        register(self._key, self._secret)
        install_log_filter()
        fields = tuple(login_fields or self.LOGIN_FIELDS)
        if len(fields) != 2 or not all(fields):
            raise CredentialsError(
                "RaceEntry: raceentry_login_fields must be two names (key field, secret field), "
                f"got {list(fields)!r}"
            )
        self.login_fields = (fields[0], fields[1])
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self._clock = clock
        self._tmp: tuple[str, str] | None = None
        self._tmp_at = 0.0
        self.logins = 0
        self._http = httpx.AsyncClient(
            timeout=timeout, transport=transport, headers={"Accept": "application/json"}
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RaceEntryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- helpers
    def _scrub(self, text: str) -> str:
        """Any credential value we hold, should a server echo it back, becomes ***."""
        return scrub(text, (self._key, self._secret, *(self._tmp or ())))

    def _fail(self, path: str, message: str, *, credentials: bool = False) -> StartListError:
        text = self._scrub(f"{SERVICE} {path}: {message}")
        return CredentialsError(text) if credentials else StartListError(text)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, self.base_url + path, **kwargs)
        except httpx.TimeoutException:
            text = self._scrub(f"{SERVICE} {path}: no answer within {self.timeout:g} s")
            raise ServiceUnavailable(text) from None
        except httpx.TransportError as exc:
            text = self._scrub(f"{SERVICE} {path}: cannot connect ({type(exc).__name__}: {exc})")
            raise ServiceUnavailable(text) from None
        except (httpx.InvalidURL, httpx.HTTPError) as exc:
            raise self._fail(path, f"bad request ({type(exc).__name__}: {exc})") from None

    @staticmethod
    def _body(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    @staticmethod
    def _error(body: Any) -> tuple[int | None, str | None]:
        """(code, message) of an error answer, whatever shape it took; (None, None) if none."""
        if not isinstance(body, Mapping):
            return None, None
        error = body.get("error")
        if isinstance(error, Mapping):
            code = error.get("error_code", error.get("code"))
            message = error.get("error_msg", error.get("message"))
        elif error not in (None, False, ""):
            code, message = body.get("error_code", body.get("code")), error
        elif "error_code" in body:
            code, message = body.get("error_code"), body.get("error_msg", body.get("message"))
        else:
            return None, None
        try:
            number = int(code) if code is not None else None
        except (TypeError, ValueError):
            number = None
        return number, text_or_none(message)

    def _expired(self, response: httpx.Response) -> bool:
        """Any 401/403, error code 102, or an error whose words say the pair is no good."""
        if response.status_code in (401, 403):
            return True
        code, message = self._error(self._body(response))
        if code == EXPIRED_CODE:
            return True
        text = (message or "").casefold()
        return bool(text) and any(word in text for word in _EXPIRED_WORDS)

    # ------------------------------------------------------------------ login
    async def login(self) -> None:
        """Ask for a fresh temporary pair (the previous one stops working)."""
        fields = dict(zip(self.login_fields, (self._key, self._secret), strict=True))
        response = await self._send("POST", self.LOGIN_PATH, data=fields)
        body = self._body(response)
        code, message = self._error(body)
        if response.status_code in (401, 403) or (code is not None and response.status_code < 500):
            detail = f" ({message})" if message else ""
            raise self._fail(
                self.LOGIN_PATH,
                f"login refused{detail}: check RACETUI_RACEENTRY_KEY / RACETUI_RACEENTRY_SECRET "
                f"(and the login field names, now {self.login_fields[0]!r}/{self.login_fields[1]!r}: "
                "raceentry_login_fields in the config)",
                credentials=True,
            )
        if response.status_code != 200:
            text = self._scrub(f"{SERVICE} {self.LOGIN_PATH}: login failed: HTTP {response.status_code}")
            raise ServiceUnavailable(text, status=response.status_code)
        tmp_key = body.get("tmp_key") if isinstance(body, Mapping) else None
        tmp_secret = body.get("tmp_secret") if isinstance(body, Mapping) else None
        if not tmp_key or not tmp_secret:
            raise self._fail(self.LOGIN_PATH, "login answer has no tmp_key/tmp_secret")
        self._tmp = (str(tmp_key), str(tmp_secret))
        register(*self._tmp)
        self._tmp_at = self._clock()
        self.logins += 1
        log.info("RaceEntry: logged in (temporary key valid ~24 h)")

    async def _ensure_login(self) -> tuple[str, str]:
        if self._tmp is None or self._clock() - self._tmp_at > self.RELOGIN_AFTER:
            await self.login()
        assert self._tmp is not None
        return self._tmp

    async def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, missing_ok: bool = False
    ) -> Any:
        """GET ``path`` with the temporary pair; one transparent re-login on expiry.
        ``missing_ok``: a 404 is None (a race without teams), not an error."""
        return await self._call("GET", path, params, missing_ok=missing_ok)

    async def post(self, path: str, request: Mapping[str, Any]) -> Any:
        """POST ``path`` with the form field ``request`` holding ``request`` as a JSON
        string (how the Timer API's writes take their body)."""
        return await self._call("POST", path, None, form={"request": json.dumps(request)})

    async def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        *,
        missing_ok: bool = False,
        form: Mapping[str, str] | None = None,
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        tmp_key, tmp_secret = await self._ensure_login()
        extra: dict[str, Any] = {"data": dict(form)} if form is not None else {}
        response = await self._send(
            method, path, params={"tmp_key": tmp_key, "tmp_secret": tmp_secret, **query}, **extra
        )
        if self._expired(response):
            log.info(
                "RaceEntry: temporary key no longer accepted (HTTP %d), logging in again",
                response.status_code,
            )
            await self.login()
            assert self._tmp is not None
            tmp_key, tmp_secret = self._tmp
            response = await self._send(
                method, path, params={"tmp_key": tmp_key, "tmp_secret": tmp_secret, **query}, **extra
            )
            if self._expired(response):
                _, message = self._error(self._body(response))
                detail = f" ({message})" if message else ""
                raise self._fail(
                    path,
                    f"refused right after a fresh login (HTTP {response.status_code}{detail}): this account "
                    "may lack access to this race, or RACETUI_RACEENTRY_KEY / _SECRET are wrong",
                    credentials=True,
                )
        if missing_ok and response.status_code == 404:
            return None
        return self._answer(path, response)

    def _answer(self, path: str, response: httpx.Response) -> Any:
        body = self._body(response)
        code, message = self._error(body)
        status = response.status_code
        detail = f" ({message})" if message else ""
        if status >= 500:
            raise ServiceUnavailable(
                self._scrub(f"{SERVICE} {path}: server error HTTP {status}"), status=status
            )
        if status == 404:
            raise ServiceRefused(
                self._scrub(f"{SERVICE} {path}: not found (check the race id){detail}"),
                status=status,
                reason=message or "",
            )
        if status != 200 or code is not None or message is not None:
            head = f"HTTP {status}" if status != 200 else f"error {code if code is not None else ''}".strip()
            raise ServiceRefused(
                self._scrub(f"{SERVICE} {path}: {head}{detail}"),
                status=status,
                reason=self._scrub(message or head),
            )
        if body is None:
            raise self._fail(path, "the answer is not JSON")
        return body

    # -------------------------------------------------------------- endpoints
    async def races(
        self, start_date: date | str | None = None, end_date: date | str | None = None
    ) -> list[dict[str, Any]]:
        body = await self.get("races", {"start_date": _day(start_date), "end_date": _day(end_date)})
        races = body.get("races") if isinstance(body, Mapping) else None
        if not isinstance(races, list):
            raise self._fail("races", "answer has no 'races' list")
        out: list[dict[str, Any]] = []
        for item in races:
            race = item.get("race", item) if isinstance(item, Mapping) else None
            if isinstance(race, Mapping):
                out.append(dict(race))
        return out

    async def participants(self, race: str, modified_after: int) -> list[dict[str, Any]]:
        """Every participant modified after ``modified_after``, each with its event id."""
        path = f"race/{race}/participants"
        return self._flatten(path, await self.get(path, {"modified_after_timestamp": int(modified_after)}))

    async def removed_participants(self, race: str, modified_after: int) -> list[dict[str, Any]]:
        path = f"race/{race}/removed_participants"
        return self._flatten(path, await self.get(path, {"modified_after_timestamp": int(modified_after)}))

    async def teams(self, race: str) -> list[dict[str, Any]]:
        path = f"race/{race}/teams"
        body = await self.get(path, missing_ok=True)
        if body is None:
            return []
        if isinstance(body, Mapping):  # tolerate {"race_teams": [...]}
            body = body.get("race_teams", body.get("teams"))
        if not isinstance(body, list):
            raise self._fail(path, "answer is not a list of teams")
        return [dict(t) for t in body if isinstance(t, Mapping)]

    async def team_types(self, race: str) -> list[dict[str, Any]]:
        path = f"race/{race}/teams/team_types"
        body = await self.get(path, missing_ok=True)
        if body is None:
            return []
        types = body.get("race_team_types") if isinstance(body, Mapping) else body
        if not isinstance(types, list):
            raise self._fail(path, "answer has no 'race_team_types' list")
        return [dict(t) for t in types if isinstance(t, Mapping)]

    # ------------------------------------------------------------------ writes
    def _ids(self, path: str, body: Any, key: str, field: str, expected: int) -> list[str]:
        """The ids of a write's answer (``{"participants": [{"registration_id": ..}]}``),
        one per item of the request, in its order."""
        items = body.get(key) if isinstance(body, Mapping) else None
        if not isinstance(items, list) or len(items) != expected:
            raise self._fail(path, f"answer has no '{key}' list of {expected} item(s)")
        ids = [text_or_none(i.get(field)) if isinstance(i, Mapping) else None for i in items]
        if any(i is None for i in ids):
            raise self._fail(path, f"answer: an item of '{key}' has no {field}")
        return [i for i in ids if i is not None]

    async def save_participants(self, race: str, participants: Sequence[Mapping[str, Any]]) -> list[str]:
        """``POST race/{id}/participants``: add (blank ``registration_id``) or modify;
        the registration ids, in order."""
        path = f"race/{race}/participants"
        body = await self.post(path, {"participants": list(participants)})
        return self._ids(path, body, "participants", "registration_id", len(participants))

    async def switch_events(self, race: str, moves: Sequence[tuple[str, str]]) -> list[str]:
        """``POST race/{id}/switch_participant_events``: (registration id, new event id)."""
        path = f"race/{race}/switch_participant_events"
        request = {"registrations": [{"registration_id": _int(r), "new_event_id": _int(e)} for r, e in moves]}
        return self._ids(path, await self.post(path, request), "participants", "registration_id", len(moves))

    async def delete_participants(self, race: str, registrations: Sequence[str]) -> list[str]:
        """``POST race/{id}/delete_participants``."""
        path = f"race/{race}/delete_participants"
        request = {"registrations": [{"registration_id": _int(r)} for r in registrations]}
        return self._ids(
            path, await self.post(path, request), "participants", "registration_id", len(registrations)
        )

    async def save_teams(self, race: str, teams: Sequence[Mapping[str, Any]]) -> list[str]:
        """``POST race/{id}/teams``: add (blank ``team_id``) or rename teams."""
        path = f"race/{race}/teams"
        body = await self.post(path, {"race_teams": list(teams)})
        return self._ids(path, body, "race_teams", "team_id", len(teams))

    def _flatten(self, path: str, body: Any) -> list[dict[str, Any]]:
        """``[{"event": {...}, "participants": [...]}, ...]`` -> participants with event_id."""
        if isinstance(body, Mapping) and isinstance(body.get("participants"), list):
            body = [body]
        if not isinstance(body, list):
            raise self._fail(path, "answer is not a list of events with participants")
        out: list[dict[str, Any]] = []
        for group in body:
            if not isinstance(group, Mapping):
                continue
            event = group.get("event") if isinstance(group.get("event"), Mapping) else {}
            event_id = event.get("event_id") if event else None
            listed: list[Any] = []
            for source in (group.get("participants"), event.get("participants") if event else None):
                if isinstance(source, list):
                    listed.extend(source)
            for item in listed:
                if isinstance(item, Mapping):
                    record = dict(item)
                    if record.get("event_id") is None and event_id is not None:
                        record["event_id"] = event_id
                    out.append(record)
                else:
                    out.append({"_bad": item})
        return out


def _day(value: date | str | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


def _int(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            return int(float(str(value)))
        except ValueError:
            return None


def _age_from_dob(dob: object, today: date) -> int | None:
    text = text_or_none(dob)
    if not text:
        return None
    try:
        born = date.fromisoformat(text[:10])
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def parse_participant(
    record: Mapping[str, Any],
    *,
    race_id: str | None,
    default_race: str,
    teams: Mapping[str, str] | None = None,
    today: date | None = None,
) -> StartEntry:
    """One RaceEntry participant -> :class:`StartEntry`. Raises ``ValueError`` naming the
    field when the record cannot be used (no bib, no registration id)."""
    bib = text_or_none(record.get("bib_num"))
    if bib is None:
        raise ValueError("bib_num: missing")
    entry_id = text_or_none(record.get("registration_id"))
    if entry_id is None:
        raise ValueError(f"registration_id: missing (bib {bib})")
    raw_user = record.get("user")
    user: Mapping[str, Any] = raw_user if isinstance(raw_user, Mapping) else {}
    raw_address = user.get("address")  # [] when there is none
    address: Mapping[str, Any] = raw_address if isinstance(raw_address, Mapping) else {}
    event_id = text_or_none(record.get("event_id"))
    age = _int(record.get("age"))
    if age is None:
        age = _age_from_dob(user.get("dob"), today or date.today())
    team_id = text_or_none(record.get("team_id"))
    # The team list is current; a participant's own team_name may predate a rename.
    team = (teams or {}).get(team_id or "") or text_or_none(record.get("team_name"))
    return StartEntry(
        entry_id=entry_id,
        race_id=race_id or event_id or default_race,
        bib=bib,
        event_id=event_id,
        first_name=text_or_none(user.get("first_name")) or "",
        last_name=text_or_none(user.get("last_name")) or "",
        gender=normalise_gender(user.get("gender")),
        age=age,
        team_id=team_id,
        team=team,
        city=text_or_none(address.get("city")),
        region=text_or_none(address.get("state")),
        country=text_or_none(address.get("country_code")),
        modified=_int(record.get("last_modified")),
        dob=text_or_none(user.get("dob")),
    )


class RaceEntryStartList:
    """One RaceEntry race (optionally only some of its events) as a start list.

    ``race_id`` is the racetui race the participants belong to; without it each
    participant goes to the race named by its RaceEntry event id.
    """

    source = "raceentry"

    def __init__(
        self,
        client: RaceEntryClient,
        race: str | int,
        *,
        events: Iterable[str | int] = (),
        race_id: str | None = None,
        overlap: int = OVERLAP,
    ) -> None:
        self.client = client
        self.race = str(race)
        self.events = sorted({str(e) for e in events})
        self.race_id = race_id
        self.overlap = overlap
        self.key = f"race {self.race}" + (f" events {','.join(self.events)}" if self.events else "")
        self.container = f"race {self.race}"
        self.wanted = tuple(self.events)
        # RaceEntry reports removals, so a full pass is only a safety net: every 6 hours.
        self.full_every = 0
        self.full_after = 6 * 3600.0

    @property
    def label(self) -> str:
        target = f" -> racetui race {self.race_id}" if self.race_id else ""
        return f"RaceEntry {self.key}{target}"

    async def aclose(self) -> None:
        await self.client.aclose()

    def _wanted(self, record: Mapping[str, Any]) -> bool:
        return not self.events or text_or_none(record.get("event_id")) in self.events

    async def fetch(self, watermark: int | None) -> Fetched:
        full = watermark is None
        since = 0 if watermark is None else max(0, watermark - self.overlap)
        types = {
            str(t.get("team_type_id")): text_or_none(t.get("team_type"))
            for t in await self.client.team_types(self.race)
        }
        teams: list[Team] = []
        for raw in await self.client.teams(self.race):
            team_id, name = text_or_none(raw.get("team_id")), text_or_none(raw.get("team_name"))
            if team_id and name:
                teams.append(Team(team_id, name, types.get(str(raw.get("team_type_id")))))
        team_names = {t.team_id: t.name for t in teams}
        records = await self.client.participants(self.race, since)
        removed_records: Sequence[dict[str, Any]] = (
            [] if full else await self.client.removed_participants(self.race, since)
        )
        fetched = Fetched(complete=full, teams=teams)
        stamps: list[int] = []
        entries: dict[str, StartEntry] = {}
        outside: dict[str, StartEntry] = {}
        for record in records:
            if "_bad" in record:
                fetched.problem("participant: not an object")
                continue
            stamp = _int(record.get("last_modified"))
            if stamp is not None:
                stamps.append(stamp)
            if not self._wanted(record):
                # In an event this list leaves out (moved there by switch_participant_events,
                # or registered there): it leaves this list, and joins any cached list that
                # wants that event, in the same transaction.
                try:
                    other = parse_participant(record, race_id=None, default_race=self.race, teams=team_names)
                except ValueError:
                    continue
                outside[other.entry_id] = other
                continue
            try:
                entry = parse_participant(
                    record, race_id=self.race_id, default_race=self.race, teams=team_names
                )
            except ValueError as exc:
                fetched.problem(f"participant: {exc}")
                continue
            entries[entry.entry_id] = entry
        for record in removed_records:
            # Registration ids are the race's: a removal counts whatever event it names.
            if "_bad" in record:
                continue
            entry_id = text_or_none(record.get("registration_id"))
            stamp = _int(record.get("last_modified"))
            if stamp is not None:
                stamps.append(stamp)
            if entry_id is None:
                continue
            kept = entries.get(entry_id) or outside.get(entry_id)
            # Removed, then registered again: the later of the two wins.
            if kept is not None and (kept.modified or 0) > (stamp or 0):
                continue
            entries.pop(entry_id, None)
            outside.pop(entry_id, None)
            fetched.removed.add(entry_id)
        fetched.entries = list(entries.values())
        fetched.outside = list(outside.values())
        fetched.removed |= set(outside)
        fetched.watermark = max(stamps) if stamps else None
        return fetched
