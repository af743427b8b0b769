import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.fakes.asgi import LoopServer, ServerThread, free_port


def _app():
    return Starlette(routes=[Route("/", lambda r: PlainTextResponse("ok"))])


def test_thread():
    with ServerThread(_app()) as s:
        assert httpx.get(s.url).text == "ok"


async def test_loop():
    async with LoopServer(_app()) as s, httpx.AsyncClient() as c:
        assert (await c.get(s.url)).text == "ok"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{free_port()}")
