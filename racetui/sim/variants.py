"""Switches that make the simulator answer like BBT masters that differ from our reading.

The vendor's text names endpoints, parameters and the push, but shows no bodies, so real
masters (older or newer versions) differ where it is silent. :class:`WireVariant` rewrites
what the simulator sends, as an ASGI layer around its app, so rehearsals and tests can meet
each form on real sockets:

* ``ids``: ``numbers`` (documented) or ``text`` (``"12"``);
* ``durations``: ``text`` (``HH:MM:SS.fff``), ``seconds`` or ``ms`` (JSON numbers);
* ``paging``: ``envelope``, ``no_totals`` (no ``total``/``pages``) or ``bare`` (a JSON array);
* ``missing``: endpoints answering 404, as on an older master (``/event/waves``,
  ``/timing/raceclock``, ...);
* ``push``: ``seq`` (documented) or ``vendor`` (``{"event": ...}`` and the result's basics,
  no ``seq``, no timing point).

Parsed from text (``racetui sim`` options, a config file) by :meth:`WireVariant.parse`:
``"ids=text,durations=ms,paging=bare,missing=/event/waves+/timing/raceclock,push=vendor"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["WireVariant", "WireVariantError"]

_ID_KEYS = frozenset(("id", "race_id", "point_id", "location_id", "wave_id", "result_id", "last_point_id"))
_DURATION_KEYS = frozenset(("time", "race_time", "split", "offset", "finish_time", "chip_time"))
_CHOICES = {
    "ids": ("numbers", "text"),
    "durations": ("text", "seconds", "ms"),
    "paging": ("envelope", "no_totals", "bare"),
    "push": ("seq", "vendor"),
}
_PREFIX = "/api/1.1"


class WireVariantError(ValueError):
    """A wire variant that cannot be served; the message names the switch and value."""


def _duration_ms(text: str) -> int | None:
    parts = text.split(":")
    if len(parts) != 3:
        return None
    try:
        hours, minutes, seconds = int(parts[0]), int(parts[1]), float(parts[2])
    except ValueError:
        return None
    return (hours * 3600 + minutes * 60) * 1000 + round(seconds * 1000)


@dataclass(frozen=True, slots=True)
class WireVariant:
    ids: str = "numbers"
    durations: str = "text"
    paging: str = "envelope"
    missing: frozenset[str] = field(default_factory=frozenset)
    push: str = "seq"

    @property
    def documented(self) -> bool:
        return self == WireVariant()

    @classmethod
    def parse(cls, text: str) -> WireVariant:
        """``key=value`` pairs separated by commas; ``missing`` lists routes with ``+``."""
        values: dict[str, Any] = {}
        for pair in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = pair.partition("=")
            key, value = key.strip(), value.strip()
            if key == "missing":
                routes = frozenset(r.strip() for r in value.split("+") if r.strip())
                for route in routes:
                    if not route.startswith("/"):
                        raise WireVariantError(f"missing: expected routes like /event/waves, got {route!r}")
                values["missing"] = routes
            elif key in _CHOICES:
                if value not in _CHOICES[key]:
                    raise WireVariantError(
                        f"{key}: expected one of {', '.join(_CHOICES[key])}, got {value!r}"
                    )
                values[key] = value
            else:
                raise WireVariantError(f"unknown wire switch {key!r} (ids, durations, paging, missing, push)")
        return cls(**values)

    # ------------------------------------------------------------------ bodies
    def _value(self, key: str, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if key in _ID_KEYS and self.ids == "text" and isinstance(value, int):
            return str(value)
        if key in _DURATION_KEYS and self.durations != "text" and isinstance(value, str):
            ms = _duration_ms(value)
            if ms is not None:
                return ms if self.durations == "ms" else ms / 1000
        return value

    def shape(self, body: Any) -> Any:
        """``body`` as this master would send it (types only)."""
        if isinstance(body, dict):
            return {
                k: self.shape(v) if isinstance(v, dict | list) else self._value(k, v) for k, v in body.items()
            }
        if isinstance(body, list):
            return [self.shape(item) for item in body]
        return body

    def page(self, body: Any) -> Any:
        if isinstance(body, dict) and isinstance(body.get("data"), list) and "pages" in body:
            if self.paging == "no_totals":
                return {k: v for k, v in body.items() if k not in ("total", "pages")}
            if self.paging == "bare":
                return body["data"]
        return body

    def frame(self, body: Any) -> Any:
        """A push frame in this master's form."""
        if self.push == "vendor" and isinstance(body, dict):
            basics = ("event", "id", "race_id", "racenum", "status")
            body = {k: body[k] for k in basics if k in body}
        return self.shape(body)

    # -------------------------------------------------------------------- ASGI
    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` answering in this variant (the documented form passes through as is)."""
        if self.documented:
            return app
        variant = self

        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            path = str(scope.get("path", ""))
            if not path.startswith(_PREFIX):
                await app(scope, receive, send)
                return
            route = path[len(_PREFIX) :]
            if scope["type"] == "http":
                if route in variant.missing:
                    body = orjson.dumps({"error": "not_found", "message": f"no endpoint {path}"})
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 404,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
                await app(scope, receive, variant._http_sender(send))
                return
            if scope["type"] == "websocket":
                await app(scope, receive, variant._ws_sender(send))
                return
            await app(scope, receive, send)

        return wrapped

    def _http_sender(self, send: Send) -> Send:
        start: dict[str, Message] = {}
        chunks: list[bytes] = []

        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start":
                start["message"] = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            head = start.pop("message")
            payload = b"".join(chunks)
            if head.get("status") == 200:
                try:
                    payload = orjson.dumps(self.shape(self.page(orjson.loads(payload))))
                except orjson.JSONDecodeError:
                    pass
            headers = [(k, v) for k, v in head.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(payload)).encode()))
            await send({**head, "headers": headers})
            await send({"type": "http.response.body", "body": payload})

        return sender

    def _ws_sender(self, send: Send) -> Send:
        async def sender(message: Message) -> None:
            if message["type"] == "websocket.send" and message.get("text"):
                try:
                    body = orjson.loads(message["text"])
                except orjson.JSONDecodeError:
                    pass
                else:
                    message = {**message, "text": orjson.dumps(self.frame(body)).decode()}
            await send(message)

        return sender
