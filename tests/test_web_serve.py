"""``racetui serve``: the browser view behind a token and an Origin check, over real sockets.

The HTTP checks use httpx and the websockets client against a real ``racetui serve``
process; the browser checks drive Debian's Chromium headless through Playwright (skipped,
with the reason, where either is missing; CI installs both).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from racetui.commands.serve import build_command
from racetui.web.server import is_loopback, origin_of
from tests.fakes.asgi import ServerThread
from tests.fakes.serve import ServeProcess
from tests.support import wait_until

DEMO = ["demo", "--athletes", "40", "--speed", "30", "--countdown", "0"]
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[@-_]")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def served() -> Iterator[ServeProcess]:
    with ServeProcess(DEMO) as server:
        yield server


def test_units_loopback_and_origin() -> None:
    assert is_loopback("localhost") and is_loopback("127.0.0.1") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7") and not is_loopback("example.org")
    assert origin_of("http://LocalHost:80/x?y") == "http://localhost"
    assert origin_of("https://example.org:8443/") == "https://example.org:8443"
    assert build_command(["--", "view", "redis://127.0.0.1:1/0"]).startswith("exec ")


def test_page_needs_its_token_and_fetches_nothing_from_the_internet(served: ServeProcess) -> None:
    with httpx.Client(base_url=served.base, timeout=30) as client:
        assert client.get("/").status_code == 403
        assert client.get("/", params={"token": "x" * 32}).status_code == 403
        page = client.get("/", params={"token": served.token})
        assert page.status_code == 200
        html = page.text
        assert f"ws://localhost:{served.port}/ws/{served.token}" in html
        assert "0.0.0.0" not in html
        urls = re.findall(r"""(?:src|href)=["']([^"']+)|url\(["']?([^"')]+)""", html)
        external = [u for pair in urls for u in pair if u and not u.startswith(served.base)]
        assert external == [], external
        font = re.search(r'url\("([^"]+\.ttf)"\)', html)
        assert font and client.get(font.group(1)).status_code == 200
        icon = client.get("/favicon.ico")
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/")
        assert client.get("/static/").status_code in (403, 404)  # no directory listing


async def test_websocket_refuses_wrong_token_and_foreign_origin(served: ServeProcess) -> None:
    url = f"ws://localhost:{served.port}/ws"
    own = websockets.Origin(served.base)
    for address, origin in (
        (f"{url}/{'x' * 32}", own),  # wrong token
        (f"{url}/{served.token}", websockets.Origin("http://evil.example")),  # another site
        (f"{url}/{served.token}", websockets.Origin(f"http://localhost:{served.port + 1}")),  # another port
        (f"{url}/{served.token}", None),  # no Origin at all
    ):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(address, origin=origin, open_timeout=30):
                pass
        assert refused.value.response.status_code == 403, (address, origin)
    own_url = f"{url}/{served.token}?width=80&height=24"
    async with websockets.connect(own_url, origin=own, open_timeout=30) as ws:
        first = await asyncio.wait_for(ws.recv(), 60)  # the dashboard's first bytes
        assert first
    assert any("refused" in line for line in served.stderr)
    assert served.token not in "".join(served.stderr)


# ------------------------------------------------------------------ browser
def _playwright():  # type: ignore[no-untyped-def]
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright)")
    return sync_playwright


def _pump_until(page, condition, what: str, deadline: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for ``condition`` while Playwright delivers its events (its sync API only does
    so inside its own calls): polls, never a fixed wait for something to happen."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline:g} s waiting for {what}")
        page.wait_for_timeout(50)


def _text(frames: list[bytes]) -> str:
    return ANSI.sub(b"", b"".join(frames)).decode("utf-8", "replace")


def test_browser_renders_updates_takes_keys_and_ends_fast() -> None:
    sync_playwright = _playwright()
    with ServeProcess(DEMO) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 700})
            frames: list[bytes] = []
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))

            def on_socket(ws) -> None:  # type: ignore[no-untyped-def]
                ws.on("framereceived", lambda data: frames.append(data if isinstance(data, bytes) else b""))

            page.on("websocket", on_socket)
            page.goto(server.url)
            page.wait_for_selector("body.-first-byte", timeout=90_000)
            _pump_until(page, lambda: "Bib Name" in _text(frames), "the leaderboard drawn")
            drawn = len(frames)
            _pump_until(page, lambda: len(frames) > drawn + 3, "the screen updating by itself")
            page.focus(".xterm-helper-textarea")  # where xterm.js takes keys
            before = len(frames)
            page.keyboard.press("7")
            health = "Recent rejected input"
            _pump_until(page, lambda: health in _text(frames[before:]), "the Health screen (key 7)")
            local = (server.base, "ws://localhost")
            assert all(url.startswith(local) for url in requests), requests
            seconds = server.interrupt()
        finally:
            browser.close()
    # Ctrl+C with a tab open: well under textual-serve's ~22 s (target 2 s; generous here).
    assert seconds < 10, seconds


def test_a_page_from_another_origin_is_refused(served: ServeProcess) -> None:
    sync_playwright = _playwright()
    target = f"ws://localhost:{served.port}/ws/{served.token}?width=80&height=24"
    script = (
        f"<script>const ws = new WebSocket({target!r});"
        "ws.onopen = () => { document.title = 'opened'; ws.send(JSON.stringify(['stdin', 'q'])); };"
        "ws.onclose = () => { if (document.title !== 'opened') document.title = 'refused'; };"
        "</script>"
    )

    async def page(request):  # type: ignore[no-untyped-def]
        return HTMLResponse(f"<html><head><title>waiting</title>{script}</head><body>elsewhere</body></html>")

    refused_before = sum("refused" in line for line in served.stderr)
    with ServerThread(Starlette(routes=[Route("/", page)])) as other, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            tab = browser.new_page()
            tab.goto(f"http://127.0.0.1:{other.port}/")
            tab.wait_for_function("document.title !== 'waiting'", timeout=60_000)
            assert tab.title() == "refused"
        finally:
            browser.close()
    wait_until(
        lambda: sum("refused" in line for line in served.stderr) > refused_before, what="the refusal logged"
    )
