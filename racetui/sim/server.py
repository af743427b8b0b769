"""The running simulator: a :class:`Sim` (state, clock, push hub, feeds) served by
uvicorn on a real socket, as the async context manager :func:`running_sim`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import orjson
import uvicorn

from racetui.sim.api import FeedCache, build_app, dur
from racetui.sim.config import SimConfig
from racetui.sim.generate import DEFAULT_EPOCH, PASS, Happening, SimEvent, generate_event
from racetui.sim.push import CLOSE_RESTART, PushHub
from racetui.sim.state import AthleteTruth, RaceRun, SimState, TruthRow
from racetui.sim.variants import WireVariant

__all__ = ["Sim", "running_sim"]

log = logging.getLogger(__name__)

TICK_SECONDS = 0.05  # real clock: how often due happenings are applied
# Kernel send buffer of every connection (accepted sockets inherit it from the listening
# one). Bounded rather than auto-tuned up to megabytes, so that a subscriber that stops
# reading fills its queue (and is closed with 1013) within a fraction of a second instead
# of having many seconds of stale messages parked in the kernel.
SEND_BUFFER = 256 * 1024
FREEZE_EVERY = 20_000  # happenings applied between two gc.freeze()


class Sim:
    """A simulation being served. Made by :func:`running_sim`; see ``racetui.sim``."""

    def __init__(self, config: SimConfig, event: SimEvent, state: SimState | None = None) -> None:
        self.config = config
        self.event = event
        self.state = state or SimState(event)
        self.hub = PushHub(config.push_queue)
        self.feeds = FeedCache(self)
        self.manual = config.clock == "manual"
        self.base_url = ""
        self._http_refuse_until = 0.0
        self._lock = asyncio.Lock()
        self._finished = asyncio.Event()
        self._base_ms = 0.0
        self._base_mono = time.monotonic()
        self._ticker: asyncio.Task[None] | None = None
        self._since_freeze = 0
        self.state.results_listeners.append(self._push_result)
        self.state.eventdata_listeners.append(self._push_eventdata)

    # ------------------------------------------------------------------ URLs
    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/1.1"

    @property
    def push_url(self) -> str:
        """The push WebSocket URL subscribed to every event."""
        return "ws" + self.api_url.removeprefix("http") + "/push?events=results,eventdata"

    def feed_url(self, race_id: int | str) -> str:
        return f"{self.base_url}/feeds/v1.1/{race_id}.json"

    def feed_race_ids(self) -> list[int]:
        """The races that have a v1.1 file (triathlons and relays)."""
        return [race.number for race in self.event.races if race.kind.value != "road"]

    # ----------------------------------------------------------------- clock
    @property
    def now_ms(self) -> int:
        """Event time now (ms since simulation time zero; the first gun is at the countdown)."""
        if self.manual:
            return self.state.now_ms
        return max(
            self.state.now_ms,
            int(self._base_ms + (time.monotonic() - self._base_mono) * self.config.speed * 1000),
        )

    def race_time_ms(self, race_id: int | str) -> int | None:
        """Time since the race's gun (None before it)."""
        run = self.state.runs[str(race_id)]
        return None if run.gun_ms is None else self.now_ms - run.gun_ms

    @property
    def finished(self) -> bool:
        """Every race official (everything in the schedule happened)."""
        return self.state.finished

    async def advance(self, seconds: float) -> int:
        """Move event time ``seconds`` forward and apply what is due; returns how many
        happenings were applied. In real-clock mode this skips ahead."""
        if seconds < 0:
            raise ValueError(f"seconds: cannot go back in time ({seconds})")
        async with self._lock:
            target = self.now_ms + round(seconds * 1000)
            if not self.manual:
                self._base_ms += seconds * 1000
            return await self._apply_until(target)

    async def advance_to(self, at_ms: int) -> int:
        """Advance to event time ``at_ms`` (no-op when already there)."""
        return await self.advance(max(0, at_ms - self.now_ms) / 1000)

    async def run_until_finished(self) -> None:
        """Manual clock: apply everything now. Real clock: wait until every race is official."""
        if self.manual:
            await self.advance_to(self.event.end_ms)
        else:
            await self._finished.wait()

    async def _apply_until(self, target: int) -> int:
        # Apply in chunks and let the sockets run between them: a big jump must neither
        # starve the subscribers' queues (a chunk is well below a queue's bound) nor keep
        # HTTP requests waiting for more than a few milliseconds.
        chunk = max(1, min(200, self.config.push_queue // 4))
        total = 0
        state = self.state
        while True:
            applied = state.advance_to(target, limit=chunk)
            total += applied
            if applied < chunk:
                break
            await asyncio.sleep(0)
        self._since_freeze += total
        if self._since_freeze >= FREEZE_EVERY:
            # What the race has recorded so far lives until the end: park it in the GC's
            # permanent generation, so that full collections (pauses of hundreds of
            # milliseconds in a 50,000 field) do not walk it again and again.
            gc.freeze()
            self._since_freeze = 0
        if state.finished:
            self._finished.set()
        return total

    async def _tick(self) -> None:
        while not self.state.finished:
            async with self._lock:
                await self._apply_until(self.now_ms)
            await asyncio.sleep(TICK_SECONDS)
        self._finished.set()

    def start_clock(self) -> None:
        self._base_mono = time.monotonic()
        self._base_ms = float(self.state.now_ms)
        if not self.manual and self._ticker is None:
            self._ticker = asyncio.create_task(self._tick(), name="racetui-sim-clock")

    async def stop_clock(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    # ---------------------------------------------------------------- outages
    async def drop_push(self, refuse_for: float = 3.0) -> int:
        """Close every push socket (1012) and refuse new ones for ``refuse_for`` seconds
        (the handshake answers 503). Returns how many sockets were closed."""
        self.hub.refuse_until = time.monotonic() + max(0.0, refuse_for)
        closing = self.hub.close_all(CLOSE_RESTART, "simulated outage: reconnect later")
        if closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in closing)), 5.0)
        return len(closing)

    def refuse_http(self, seconds: float) -> None:
        """Answer 503 (JSON, Retry-After) to every HTTP request for ``seconds``."""
        self._http_refuse_until = time.monotonic() + max(0.0, seconds)

    def http_refused_for(self) -> float:
        return max(0.0, self._http_refuse_until - time.monotonic())

    # ------------------------------------------------------------------ truth
    def truth_toplist(self, race_id: int | str) -> list[TruthRow]:
        """The simulator's own finish order so far: (racenum, chip_ms, status), DSQ left out."""
        return self.state.truth_toplist(str(race_id))

    def truth_athlete(self, race_id: int | str, racenum: str) -> AthleteTruth:
        """A copy of one athlete's (or team's) truth: status, chip times, incidents."""
        return self.state.truth_athlete(str(race_id), str(racenum))

    # ------------------------------------------------------------------- push
    def _push_result(self, run: RaceRun, truth: AthleteTruth, happening: Happening) -> None:
        if not self.hub.subscribers:
            return
        if happening.kind == PASS:
            index = run.point_index[happening.point_id or ""]
            chip = truth.chips[index]
            body = {
                "id": truth.result_id,
                "race_id": run.sim.number,
                "racenum": truth.bib,
                "point_id": int(run.point_ids[index]),
                "time": dur(chip),
                "race_time": dur(happening.time_ms),
                "time_of_day": self.state.time_of_day(happening.at_ms).isoformat(timespec="milliseconds"),
                "status": truth.status.value,
                "finish": index == run.finish_index,
            }
        else:
            body = {
                "id": truth.result_id,
                "race_id": run.sim.number,
                "racenum": truth.bib,
                "point_id": None,
                "time": None,
                "race_time": None,
                "time_of_day": None,
                "status": truth.status.value,
                "finish": False,
            }
        self.hub.publish("results", orjson.dumps(body))

    def _push_eventdata(self) -> None:
        if self.hub.subscribers:
            self.hub.publish("eventdata", b"{}")


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the host program (tests, the dashboard, the CLI)
    owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int, send_buffer: int | None) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if send_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _url_host(host: str, sock: socket.socket) -> str:
    bound = sock.getsockname()[0]
    if host in ("0.0.0.0", ""):
        bound = "127.0.0.1"
    elif host == "::":
        bound = "::1"
    elif not host.replace(".", "").isdigit() and ":" not in host:
        bound = host  # a name, e.g. localhost
    return f"[{bound}]" if ":" in bound else bound


@contextlib.asynccontextmanager
async def running_sim(
    config: SimConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    event: SimEvent | None = None,
    send_buffer: int | None = SEND_BUFFER,
) -> AsyncIterator[Sim]:
    """Generate the event, serve it on ``host:port`` (0 = a free port) and run its clock.

    ``event`` serves an already generated event (it must come from ``config``);
    ``send_buffer`` is each connection's kernel send buffer in bytes (``None``: the OS's).

    Raises ``OSError`` when the address cannot be bound and
    :class:`~racetui.sim.config.SimConfigError` for a bad config.
    """
    config = (config or SimConfig()).validate()
    if event is None:
        if config.epoch is not None:
            epoch = config.epoch
        elif config.clock == "real":
            epoch = datetime.now(UTC).replace(microsecond=0)
        else:
            epoch = DEFAULT_EPOCH
        event = await asyncio.to_thread(generate_event, config, epoch=epoch)
    state = await asyncio.to_thread(SimState, event)
    sim = Sim(config, event, state)
    sock = _bind(host, port, send_buffer)
    server = _EmbeddedServer(
        uvicorn.Config(
            WireVariant.parse(config.wire).wrap(build_app(sim)),
            ws="websockets-sansio",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="racetui-sim-server")
    try:
        while not server.started:
            if serving.done():
                serving.result()
                raise OSError(f"the simulator could not start on {host}:{port}")
            await asyncio.sleep(0.01)
        bound_port = sock.getsockname()[1]
        sim.base_url = f"http://{_url_host(host, sock)}:{bound_port}"
        sim.start_clock()
        yield sim
    finally:
        await sim.stop_clock()
        sim.hub.close_all(1001, "simulator stopping")
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(serving), 10)
        except (TimeoutError, asyncio.CancelledError):
            serving.cancel()
        except Exception:  # a server that failed at startup already raised above
            log.debug("simulator server ended with an error", exc_info=True)
        sock.close()
