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
    StartEntry,
    StartListError,
    Team,
    install_log_redaction,
    normalise_gender,
    redact,
    text_or_none,
)

__all__ = ["DEFAULT_URL", "OVERLAP", "RaceEntryClient", "RaceEntryStartList", "parse_participant"]

log = logging.getLogger(__name__)

DEFAULT_URL = "https://www.raceentry.com/rest"
EXPIRED_CODE = 102
# Incremental fetches ask from (watermark - OVERLAP): a registration saved in the same
# second as our last fetch, or committed a little late upstream, is not missed. Upserts
# are idempotent, so the overlap costs only bandwidth.
OVERLAP = 120
SERVICE = "RaceEntry"


def _secret(value: SecretStr | str | None) -> str:
    if value is None:
        return ""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class RaceEntryClient:
    """Authenticated GETs against the Timer API, re-logging in when the pair expires."""

    LOGIN_PATH = "login"
    LOGIN_FIELDS = ("key", "secret")
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
    ) -> None:
        self._key = _secret(key)
        self._secret = _secret(secret)
        if not self._key or not self._secret:
            raise CredentialsError(
                "RaceEntry: no credentials: set RACETUI_RACEENTRY_KEY and RACETUI_RACEENTRY_SECRET "
                "(or raceentry_key / raceentry_secret under [startlist] in the config file)"
            )
        install_log_redaction()
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
        for value in (self._key, self._secret, *(self._tmp or ())):
            if value and len(value) >= 3:
                text = text.replace(value, "***")
        return text

    def _fail(self, path: str, message: str, *, credentials: bool = False) -> StartListError:
        text = self._scrub(f"{SERVICE} {path}: {message}")
        return CredentialsError(text) if credentials else StartListError(text)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, self.base_url + path, **kwargs)
        except httpx.TimeoutException:
            raise self._fail(path, f"no answer within {self.timeout:g} s") from None
        except httpx.TransportError as exc:
            raise self._fail(path, f"cannot connect ({type(exc).__name__}: {exc})") from None
        except (httpx.InvalidURL, httpx.HTTPError) as exc:
            raise self._fail(path, f"bad request ({type(exc).__name__}: {redact(str(exc))})") from None

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
        if response.status_code == 401:
            return True
        code, _ = self._error(self._body(response))
        return code == EXPIRED_CODE

    # ------------------------------------------------------------------ login
    async def login(self) -> None:
        """Ask for a fresh temporary pair (the previous one stops working)."""
        fields = dict(zip(self.LOGIN_FIELDS, (self._key, self._secret), strict=True))
        response = await self._send("POST", self.LOGIN_PATH, data=fields)
        body = self._body(response)
        code, message = self._error(body)
        if response.status_code in (401, 403) or (code is not None and response.status_code < 500):
            detail = f" ({message})" if message else ""
            raise self._fail(
                self.LOGIN_PATH,
                f"login refused{detail}: check RACETUI_RACEENTRY_KEY / RACETUI_RACEENTRY_SECRET",
                credentials=True,
            )
        if response.status_code != 200:
            raise self._fail(self.LOGIN_PATH, f"login failed: HTTP {response.status_code}")
        tmp_key = body.get("tmp_key") if isinstance(body, Mapping) else None
        tmp_secret = body.get("tmp_secret") if isinstance(body, Mapping) else None
        if not tmp_key or not tmp_secret:
            raise self._fail(self.LOGIN_PATH, "login answer has no tmp_key/tmp_secret")
        self._tmp = (str(tmp_key), str(tmp_secret))
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
        query = {k: v for k, v in (params or {}).items() if v is not None}
        tmp_key, tmp_secret = await self._ensure_login()
        response = await self._send(
            "GET", path, params={"tmp_key": tmp_key, "tmp_secret": tmp_secret, **query}
        )
        if self._expired(response):
            log.info("RaceEntry: temporary key expired, logging in again")
            await self.login()
            assert self._tmp is not None
            tmp_key, tmp_secret = self._tmp
            response = await self._send(
                "GET", path, params={"tmp_key": tmp_key, "tmp_secret": tmp_secret, **query}
            )
            if self._expired(response):
                raise self._fail(path, "a fresh temporary key was refused too", credentials=True)
        if missing_ok and response.status_code == 404:
            return None
        return self._answer(path, response)

    def _answer(self, path: str, response: httpx.Response) -> Any:
        body = self._body(response)
        code, message = self._error(body)
        status = response.status_code
        if status == 403:
            raise self._fail(
                path, f"forbidden{f' ({message})' if message else ''}: no access with this account"
            )
        if status == 404:
            raise self._fail(path, "not found (check the race id)")
        if status >= 500:
            raise self._fail(path, f"server error HTTP {status}")
        if status != 200:
            raise self._fail(path, f"HTTP {status}{f' ({message})' if message else ''}")
        if code is not None or message is not None:
            raise self._fail(path, f"error {code if code is not None else ''} {message or ''}".strip())
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
        for record in records:
            if "_bad" in record:
                fetched.problem("participant: not an object")
                continue
            if not self._wanted(record):
                continue
            stamp = _int(record.get("last_modified"))
            if stamp is not None:
                stamps.append(stamp)
            try:
                entry = parse_participant(
                    record, race_id=self.race_id, default_race=self.race, teams=team_names
                )
            except ValueError as exc:
                fetched.problem(f"participant: {exc}")
                continue
            entries[entry.entry_id] = entry
        for record in removed_records:
            if "_bad" in record or not self._wanted(record):
                continue
            entry_id = text_or_none(record.get("registration_id"))
            stamp = _int(record.get("last_modified"))
            if stamp is not None:
                stamps.append(stamp)
            if entry_id is None:
                continue
            kept = entries.get(entry_id)
            # Removed, then registered again: the later of the two wins.
            if kept is not None and (kept.modified or 0) > (stamp or 0):
                continue
            entries.pop(entry_id, None)
            fetched.removed.add(entry_id)
        fetched.entries = list(entries.values())
        fetched.watermark = max(stamps) if stamps else None
        return fetched
