"""ChronoTrack Live Open Platform API client and start-list fetcher.

The contract (``/work/shared/specs/chronotrack-live-api.txt``; API base
``https://api.chronotrack.com/api``, testing ``https://qa-api.chronotrack.com/api``):

- authentication, two of the documented methods:
  - OAuth 2.0 password flow when a client secret is configured:
    ``GET /oauth2/token?grant_type=password&username=..&password=..`` with HTTP Basic
    ``client_id:client_secret``; the answer's ``access_token`` is then sent as
    ``Authorization: Bearer ..``. The token (and refresh token) live in memory only; on a
    401 we refresh (``grant_type=refresh_token``), else ask again, once.
  - HTTP Basic with the user's ``username:password`` otherwise.
  The token endpoint sits beside ``/api`` (``https://api.chronotrack.com/oauth2/token``).
- every API request carries the ``client_id`` query parameter and asks for JSON
  (``format=json`` and ``Accept: application/json``).
- collections are paged with ``page`` (from 1), the only paging parameter the document
  lists besides ``last_id``; the page size is the server's. The answer's
  ``X-Ctlive-Page-Count`` / ``X-Ctlive-Current-Page`` / ``X-Ctlive-Row-Count`` /
  ``X-Ctlive-Page-Size`` headers say where we are. We read every page they announce;
  without them, a short page is the last.
- ``503 over rate`` (past the connection limit) and other 503s back off (``Retry-After``
  when given, else :class:`racetui.util.retry.Backoff`) and ask for the same page again:
  the pages already read are kept.
- resources: ``GET /event`` (events), ``GET /event/{id}/race`` (races of an event),
  ``GET /event/{id}/entry`` (entries, with ``modified_after`` for incremental fetches).

The spec's resource reference did not come with it ("Loading resources..."): the entity
fields read here (``entry_bib``, ``athlete_first_name``, ``athlete_sex``,
``entry_race_age``, ``location_city`` ...) are those the public API returns, and a
collection answer may be a bare list or an object holding one list (``event_entry``).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from racetui.sources.startlist.common import (
    CredentialsError,
    Fetched,
    ServiceRefused,
    ServiceUnavailable,
    StartEntry,
    StartListError,
    normalise_gender,
    text_or_none,
)
from racetui.util.retry import Backoff, parse_retry_after
from racetui.util.secrets import install_log_filter, register, reveal, scrub

__all__ = ["DEFAULT_URL", "OVERLAP", "ChronoTrackClient", "ChronoTrackStartList", "parse_entry"]

log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.chronotrack.com/api"
OVERLAP = 120  # seconds asked again on every incremental fetch (see raceentry.OVERLAP)
MAX_PAGES = 10_000
SERVICE = "ChronoTrack"
# Entry statuses that mean "no longer in the race" (an incremental fetch has no other way
# to learn of a withdrawal; a full sync drops vanished entries anyway).
INACTIVE_WORDS = ("cancel", "delete", "remove", "withdraw", "refund", "transfer")
_LIST_KEYS = ("event_entry", "entries", "event_list", "events", "event_race", "races", "data")


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def token_url(base_url: str) -> str:
    """``https://host/api`` -> ``https://host/oauth2/token``."""
    parts = urlsplit(base_url.rstrip("/"))
    path = parts.path
    if path.endswith("/api"):
        path = path[: -len("/api")]
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/oauth2/token", "", ""))


class ChronoTrackClient:
    """Authenticated, paged GETs against the ChronoTrack Live API."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None,
        username: str | None,
        password: SecretStr | str | None,
        client_secret: SecretStr | str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: Backoff | None = None,
        busy_retries: int = 8,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        missing = [
            variable
            for variable, value in (
                ("RACETUI_CHRONOTRACK_CLIENT_ID", client_id),
                ("RACETUI_CHRONOTRACK_USERNAME", username),
                ("RACETUI_CHRONOTRACK_PASSWORD", reveal(password)),
            )
            if not value
        ]
        if missing:
            raise CredentialsError(
                f"ChronoTrack: no credentials: set {', '.join(missing)} (or the chronotrack_* "
                "fields under [startlist] in the config file; RACETUI_CHRONOTRACK_CLIENT_SECRET "
                "as well for the OAuth2 password flow)"
            )
        register(password, client_secret)
        install_log_filter()
        assert client_id is not None and username is not None
        self.base_url = base_url.rstrip("/") + "/"
        self.token_url = token_url(base_url)
        self.client_id = client_id
        self._username = username
        self._password = reveal(password)
        self._client_secret = reveal(client_secret)
        self.timeout = timeout
        # 503 (over rate, or overloaded): wait and ask again, at most ``busy_retries`` times.
        self.backoff = backoff or Backoff(base=2.0, factor=2.0, cap=60.0, jitter=0.1)
        self.busy_retries = busy_retries
        self.busy_waits: list[float] = []  # every wait taken after a 503 (for the Health screen)
        self._sleep = sleep
        self._token: str | None = None
        self._refresh: str | None = None
        self._expires: float | None = None
        self.token_requests = 0
        self._http = httpx.AsyncClient(
            timeout=timeout, transport=transport, headers={"Accept": "application/json"}
        )

    @property
    def mode(self) -> str:
        """``"oauth2"`` (password flow) with a client secret, else ``"basic"``."""
        return "oauth2" if self._client_secret else "basic"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ChronoTrackClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- helpers
    def _scrub(self, text: str) -> str:
        return scrub(text, (self._password, self._client_secret, self._token or "", self._refresh or ""))

    def _fail(self, path: str, message: str, *, credentials: bool = False) -> StartListError:
        text = self._scrub(f"{SERVICE} {path}: {message}")
        return CredentialsError(text) if credentials else StartListError(text)

    async def _send(self, url: str, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise ServiceUnavailable(
                self._scrub(f"{SERVICE} {path}: no answer within {self.timeout:g} s")
            ) from None
        except httpx.TransportError as exc:
            text = self._scrub(f"{SERVICE} {path}: cannot connect ({type(exc).__name__}: {exc})")
            raise ServiceUnavailable(text) from None
        except (httpx.InvalidURL, httpx.HTTPError) as exc:
            raise self._fail(path, f"bad request ({type(exc).__name__}: {exc})") from None

    async def _patient(self, url: str, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
        """:meth:`_send`, waiting out 503s (``over rate`` past the connection limit, or an
        overloaded server): ``Retry-After`` when given, else the backoff; the caller's place
        (the page it asked for) is kept. After ``busy_retries`` waits the 503 stands."""
        failures = 0
        while True:
            response = await self._send(url, path, method, **kwargs)
            if response.status_code != 503 or failures >= self.busy_retries:
                return response
            failures += 1
            delay = self.backoff.delay(failures, parse_retry_after(response.headers.get("Retry-After")))
            self.busy_waits.append(delay)
            log.warning(
                "ChronoTrack %s: 503%s, asking again in %.1f s (%d of %d)",
                path,
                " over rate" if "over rate" in response.text.casefold() else "",
                delay,
                failures,
                self.busy_retries,
            )
            await self._sleep(delay)

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            plain = " ".join(response.text.split())[:200]
            return f" ({plain})" if plain else ""
        if isinstance(body, Mapping):
            for key in ("error_description", "message", "error", "detail"):
                text = text_or_none(body.get(key))
                if text:
                    return f" ({text[:200]})"
        return ""

    # ------------------------------------------------------------------ OAuth
    async def _fetch_token(self, *, refresh: bool) -> None:
        params = (
            {"grant_type": "refresh_token", "refresh_token": self._refresh}
            if refresh and self._refresh
            else {"grant_type": "password", "username": self._username, "password": self._password}
        )
        basic = base64.b64encode(f"{self.client_id}:{self._client_secret}".encode()).decode()
        response = await self._patient(
            self.token_url, "oauth2/token", params=params, headers={"Authorization": f"Basic {basic}"}
        )
        self.token_requests += 1
        if response.status_code in (400, 401, 403):
            if refresh and self._refresh:
                self._refresh = None  # a refused refresh token: the password grant decides
                await self._fetch_token(refresh=False)
                return
            raise self._fail(
                "oauth2/token",
                f"login refused{self._message(response)}: check RACETUI_CHRONOTRACK_CLIENT_ID / "
                "_CLIENT_SECRET / _USERNAME / _PASSWORD",
                credentials=True,
            )
        if response.status_code != 200:
            text = self._scrub(f"{SERVICE} oauth2/token: token request failed: HTTP {response.status_code}")
            raise ServiceUnavailable(text, status=response.status_code)
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, Mapping) else None
        if not token:
            raise self._fail("oauth2/token", "token answer has no access_token")
        assert isinstance(body, Mapping)
        self._token = str(token)
        self._refresh = text_or_none(body.get("refresh_token")) or self._refresh
        register(self._token, self._refresh or "")
        self._expires = _token_deadline(body, response)
        log.info("ChronoTrack: got an access token")

    async def _auth_header(self) -> str:
        if self.mode == "basic":
            raw = f"{self._username}:{self._password}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        if self._token is None or (self._expires is not None and time.monotonic() > self._expires - 60):
            await self._fetch_token(refresh=self._token is not None)
        return f"Bearer {self._token}"

    # ------------------------------------------------------------------ paths
    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        """One authenticated GET of ``path`` (relative to the API base); a 200 or an error."""
        return await self.request("GET", path, params)

    async def request(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, *, body: Any = None
    ) -> httpx.Response:
        """One authenticated request; a 401 renews the token (or asks again) once.
        A 2xx comes back; anything else raises :class:`CredentialsError`,
        :class:`ServiceRefused` (the service's reason) or :class:`ServiceUnavailable`."""
        query = {"client_id": self.client_id, "format": "json"}
        query.update({k: str(v) for k, v in (params or {}).items() if v is not None})
        url = self.base_url + path
        extra: dict[str, Any] = {} if body is None else {"json": body}
        response = await self._patient(
            url, path, method, params=query, headers={"Authorization": await self._auth_header()}, **extra
        )
        # A 401 may be an expired token; the document says a 403 will not get better with
        # other credentials (usage limits), so only a 401 renews.
        if response.status_code == 401 and self.mode == "oauth2":
            log.info("ChronoTrack: access token refused (HTTP %d), renewing it", response.status_code)
            await self._fetch_token(refresh=True)
            response = await self._patient(
                url, path, method, params=query, headers={"Authorization": await self._auth_header()}, **extra
            )
        status = response.status_code
        if status == 401:
            raise self._fail(
                path,
                f"credentials refused{self._message(response)}: check RACETUI_CHRONOTRACK_USERNAME / "
                "_PASSWORD (and _CLIENT_ID / _CLIENT_SECRET)",
                credentials=True,
            )
        if status >= 500:
            word = "service unavailable" if status == 503 else f"server error HTTP {status}"
            raise ServiceUnavailable(
                self._scrub(f"{SERVICE} {path}: {word}{self._message(response)}"),
                status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if 200 <= status < 300:
            return response
        reason = self._message(response).strip(" ()")
        what = {403: "forbidden", 404: "not found (check the event id)"}.get(status, f"HTTP {status}")
        raise ServiceRefused(
            self._scrub(f"{SERVICE} {path}: {what}{self._message(response)}"),
            status=status,
            reason=self._scrub(reason or what),
        )

    def _items(self, path: str, response: httpx.Response) -> list[Any]:
        try:
            body = response.json()
        except ValueError:
            raise self._fail(path, "the answer is not JSON") from None
        if isinstance(body, list):
            return body
        if isinstance(body, Mapping):
            for key in _LIST_KEYS:
                if isinstance(body.get(key), list):
                    return list(body[key])
            lists = [v for v in body.values() if isinstance(v, list)]
            if len(lists) == 1:
                return list(lists[0])
            if not lists and not body:
                return []
        raise self._fail(path, "the answer holds no list of entities")

    async def collection(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[Any], int | None]:
        """Every entity of a paged collection, first page to last, and the server's clock
        (unix seconds, from the first answer's ``Date``) for an incremental watermark."""
        for attempt in (1, 2):
            items, server_time, rows = await self._pages(path, params)
            if rows is None or len(items) >= rows or attempt == 2:
                if rows is not None and len(items) < rows:
                    raise self._fail(
                        path, f"the collection changed while paging ({len(items)} of {rows} rows); try again"
                    )
                return items, server_time
            log.info("ChronoTrack %s: %d of %d rows, paging again", path, len(items), rows)
        raise AssertionError("unreachable")

    async def _pages(
        self, path: str, params: Mapping[str, Any] | None
    ) -> tuple[list[Any], int | None, int | None]:
        items: list[Any] = []
        seen: set[str] = set()
        server_time: int | None = None
        rows: int | None = None
        page = 1
        while page <= MAX_PAGES:
            response = await self.get(path, {**(params or {}), "page": page})
            if server_time is None:
                server_time = _server_time(response)
            batch = self._items(path, response)
            for item in batch:
                # A row that slid across a page boundary while we paged comes twice.
                ident = item.get("entry_id") if isinstance(item, Mapping) else None
                if ident is not None:
                    if str(ident) in seen:
                        continue
                    seen.add(str(ident))
                items.append(item)
            headers = response.headers
            pages = _int_header(headers, "X-Ctlive-Page-Count")
            current = _int_header(headers, "X-Ctlive-Current-Page") or page
            rows = _int_header(headers, "X-Ctlive-Row-Count")
            served = _int_header(headers, "X-Ctlive-Page-Size")
            if pages is not None:
                if current >= pages:
                    break
            elif rows is not None:
                if len(items) >= rows or not batch:
                    break
            elif served is None or len(batch) < served:
                break
            if not batch:
                break
            page = current + 1
        else:
            raise self._fail(path, f"more than {MAX_PAGES} pages")
        return items, server_time, rows

    # -------------------------------------------------------------- resources
    async def events(self) -> list[dict[str, Any]]:
        items, _ = await self.collection("event")
        return [dict(i) for i in items if isinstance(i, Mapping)]

    async def races(self, event: str) -> list[dict[str, Any]]:
        items, _ = await self.collection(f"event/{event}/race")
        return [dict(i) for i in items if isinstance(i, Mapping)]

    async def entries(self, event: str, modified_after: int | None = None) -> tuple[list[Any], int | None]:
        return await self.collection(f"event/{event}/entry", {"modified_after": modified_after})

    # ------------------------------------------------------------------ writes
    async def post_entries(self, event: str, entities: list[Mapping[str, Any]]) -> list[str]:
        """``POST /api/event/{id}/entry``: create (no ``entry_id``) or update entries; the
        entry ids of the answer, one per entity in order."""
        path = f"event/{event}/entry"
        response = await self.request("POST", path, body=entities if len(entities) != 1 else entities[0])
        try:
            body = response.json()
        except ValueError:
            raise self._fail(path, "the answer is not JSON") from None
        if isinstance(body, list):
            results: list[Any] = body
        elif isinstance(body, Mapping) and any(isinstance(v, list) for v in body.values()):
            results = self._items(path, response)
        else:
            results = [body]
        ids = [text_or_none(r.get("entry_id")) if isinstance(r, Mapping) else None for r in results]
        if len(ids) != len(entities) or any(i is None for i in ids):
            raise self._fail(path, f"answer has no entry_id for each of the {len(entities)} entities")
        return [i for i in ids if i is not None]

    async def put_entry(self, entry: str, fields: Mapping[str, Any]) -> None:
        """``PUT /api/entry/{id}``: a partial entity, only what changes."""
        await self.request("PUT", f"entry/{entry}", body=dict(fields))

    async def delete_entry(self, entry: str) -> None:
        """``DELETE /api/entry/{id}``."""
        await self.request("DELETE", f"entry/{entry}")


def _server_time(response: httpx.Response) -> int | None:
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError):
        return None


def _token_deadline(body: Mapping[str, Any], response: httpx.Response) -> float | None:
    """When the token stops working, on our monotonic clock. ``expires`` is a unix time
    on the server's clock: measured against the answer's ``Date`` so that a skewed local
    clock neither renews on every request nor sends a dead token (``expires_in``, the
    RFC 6749 lifetime, is read too)."""
    try:
        if body.get("expires_in") is not None:
            return time.monotonic() + float(body["expires_in"])
        if body.get("expires") is None:
            return None
        expires = float(body["expires"])
    except (TypeError, ValueError):
        return None
    server_now = _server_time(response)
    lifetime = expires - (server_now if server_now is not None else time.time())
    return time.monotonic() + lifetime


def inactive(status: object) -> bool:
    text = (text_or_none(status) or "").casefold()
    return any(word in text for word in INACTIVE_WORDS)


def _int(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(str(value).strip()))
    except ValueError:
        return None


def _category(value: object) -> str | None:
    text = text_or_none(value)
    if text is None or "overall" in text.casefold():
        return None
    return text


def parse_entry(record: Mapping[str, Any], *, race_id: str | None, default_race: str) -> StartEntry:
    """One ChronoTrack entry -> :class:`StartEntry`; ``ValueError`` names what is missing."""
    entry_id = text_or_none(record.get("entry_id"))
    if entry_id is None:
        raise ValueError("entry_id: missing")
    bib = text_or_none(record.get("entry_bib"))
    if bib is None:
        raise ValueError(f"entry_bib: missing (entry {entry_id})")
    remote_race = text_or_none(record.get("race_id", record.get("entry_race_id")))
    first = text_or_none(record.get("athlete_first_name")) or ""
    last = text_or_none(record.get("athlete_last_name")) or ""
    return StartEntry(
        entry_id=entry_id,
        race_id=race_id or remote_race or default_race,
        bib=bib,
        event_id=remote_race,
        first_name=first,
        last_name=last,
        name="" if (first or last) else text_or_none(record.get("entry_name")) or "",
        gender=normalise_gender(record.get("athlete_sex", record.get("entry_sex"))),
        age=_int(record.get("entry_race_age", record.get("athlete_age"))),
        category=_category(record.get("bracket_name")),
        team_id=text_or_none(record.get("team_id")),
        team=text_or_none(record.get("team_name")),
        city=text_or_none(record.get("location_city")),
        region=text_or_none(record.get("location_region")),
        country=text_or_none(record.get("location_country")),
        modified=None,
        dob=text_or_none(record.get("athlete_birthdate")),
    )


class ChronoTrackStartList:
    """One ChronoTrack event (optionally only some of its races) as a start list.

    ``race_id`` is the racetui race the entries belong to; without it each entry goes to
    the race named by its ChronoTrack race id. ChronoTrack reports no removed entries, so
    every ``full_every``-th fetch is a full one (vanished entries are dropped then);
    entries whose status says cancelled/withdrawn/transferred are dropped at once.
    """

    source = "chronotrack"

    def __init__(
        self,
        client: ChronoTrackClient,
        event: str | int,
        *,
        races: Iterable[str | int] = (),
        race_id: str | None = None,
        overlap: int = OVERLAP,
        full_every: int = 10,
        full_after: float = 3600.0,
    ) -> None:
        self.client = client
        self.event = str(event)
        self.races = sorted({str(r) for r in races})
        self.race_id = race_id
        self.overlap = overlap
        self.full_every = full_every
        self.full_after = full_after
        self.key = f"event {self.event}" + (f" races {','.join(self.races)}" if self.races else "")
        self.container = f"event {self.event}"
        self.wanted = tuple(self.races)

    @property
    def label(self) -> str:
        target = f" -> racetui race {self.race_id}" if self.race_id else ""
        return f"ChronoTrack {self.key}{target}"

    async def aclose(self) -> None:
        await self.client.aclose()

    async def fetch(self, watermark: int | None) -> Fetched:
        full = watermark is None
        since = None if watermark is None else max(0, watermark - self.overlap)
        started = int(time.time())
        records, server_time = await self.client.entries(self.event, since)
        fetched = Fetched(complete=full, watermark=server_time if server_time is not None else started)
        entries: dict[str, StartEntry] = {}
        for record in records:
            if not isinstance(record, Mapping):
                fetched.problem("entry: not an object")
                continue
            remote_race = text_or_none(record.get("race_id", record.get("entry_race_id")))
            if self.races and remote_race not in self.races:
                # In a race this list leaves out (moved there, or registered there): it
                # leaves this list and joins any cached list that wants that race.
                if not inactive(record.get("entry_status")):
                    try:
                        other = parse_entry(record, race_id=None, default_race=self.event)
                    except ValueError:
                        continue
                    fetched.outside.append(other)
                ident = text_or_none(record.get("entry_id"))
                if ident is not None:
                    fetched.removed.add(ident)
                continue
            if inactive(record.get("entry_status")):
                ident = text_or_none(record.get("entry_id"))
                if ident is not None:
                    fetched.removed.add(ident)
                continue
            try:
                entry = parse_entry(record, race_id=self.race_id, default_race=self.event)
            except ValueError as exc:
                fetched.problem(f"entry: {exc}")
                continue
            entries[entry.entry_id] = entry
        fetched.entries = list(entries.values())
        fetched.removed -= set(entries)
        return fetched
