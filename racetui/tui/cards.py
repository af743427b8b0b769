"""Athlete cards on screen: what a card says, and which card pops up when.

A card pops up when an athlete with notes — watched (★), or in the top N of their race —
is projected (:func:`racetui.engine.projections.arrivals`) to reach the chosen timing point
within a minute. One card at a time: the others wait in a queue; each shows for
``show_for`` seconds or until Esc, and comes once per athlete and point. Times are the
screens' clock (the TV delay included). No Textual here.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from racetui.engine.projections import Arrival, arrivals
from racetui.model.times import format_clock
from racetui.sources.notes import Card, NotesBook

if TYPE_CHECKING:
    from racetui.tui.state import AthleteRef, UiState

__all__ = ["CardQueue", "Popup", "card_point", "race_day"]

ArrivalsFn = Callable[..., list[Arrival]]


@dataclass(frozen=True, slots=True)
class Popup:
    ref: AthleteRef
    point_index: int
    title: str  # "#13 Yuki Suzuki · JPN · 1st"
    when: str  # "at Finish in 0:42"
    lines: tuple[str, ...]


def race_day(state: UiState, race_id: str) -> dt.date:
    """The race's date (its gun's), else today by the screens' clock: birthdays match it."""
    standings = state.engine.races.get(race_id)
    clock = standings.race.clock if standings is not None else None
    gun = clock.gun_time if clock is not None else None
    return gun.date() if gun is not None else state.clock().date()


def card_point(state: UiState, race_id: str) -> int | None:
    """The chosen timing point: the one chosen on the leaderboard (``p``), else the front
    of the race (the point the leaders reach next), as the Coming screen does."""
    standings = state.engine.races.get(race_id)
    if standings is None or not standings.points:
        return None
    index = standings.point_index.get(state.point_id) if state.point_id else None
    if index is not None:
        return index
    return max(0, min(standings.latest_point() + 1, len(standings.points) - 1))


def _place(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class CardQueue:
    """Which card is up, which wait, which came already."""

    def __init__(self, *, show_for: float = 10.0, within: float = 60.0, top: int = 10) -> None:
        self.show_for = dt.timedelta(seconds=show_for)
        self.within_ms = int(within * 1000)
        self.top = top
        self.waiting: deque[Popup] = deque()
        self.current: Popup | None = None
        self.until: dt.datetime | None = None
        self.offered: set[tuple[str, str, int]] = set()

    def offer(self, popup: Popup) -> bool:
        key = (popup.ref[0], popup.ref[1], popup.point_index)
        if key in self.offered:
            return False
        self.offered.add(key)
        self.waiting.append(popup)
        return True

    def shown(self, now: dt.datetime) -> Popup | None:
        """The card up at ``now`` (the next one comes up when one times out)."""
        if self.current is not None and self.until is not None and now >= self.until:
            self.current = None
        if self.current is None and self.waiting:
            self.current = self.waiting.popleft()
            self.until = now + self.show_for
        return self.current

    def dismiss(self, now: dt.datetime) -> bool:
        """Esc: close the card up (the next waits for the next tick). False: none was up."""
        if self.current is None:
            return False
        self.current = None
        self.until = now  # the next one comes on the next look
        return True

    # ------------------------------------------------------------ triggers
    def scan(
        self,
        state: UiState,
        notes: NotesBook,
        *,
        watched: Iterable[AthleteRef] = (),
        find: ArrivalsFn = arrivals,
    ) -> list[Popup]:
        """Offer a card for each athlete with notes projected at the chosen point within
        ``within`` seconds: the top N of the race on screen, and watched athletes."""
        added: list[Popup] = []
        race_ids = {r for r, _ in watched}
        current = state.ensure_race()
        if current is not None:
            race_ids.add(current)
        watching = set(watched)
        for race_id in sorted(race_ids):
            standings = state.engine.races.get(race_id)
            point = card_point(state, race_id)
            clock = state.race_clock(standings.race) if standings is not None else None
            if standings is None or point is None or clock is None or clock.elapsed_ms is None:
                continue
            top = (
                {row.bib for row in standings.view().rows(0, self.top)}
                if race_id == current and self.top
                else set()
            )
            for arrival in find(standings, point, clock.elapsed_ms, self.within_ms):
                ref = (race_id, arrival.bib)
                if arrival.bib not in top and ref not in watching:
                    continue
                if (race_id, arrival.bib, point) in self.offered:
                    continue
                entry = standings.athlete(arrival.bib)
                participant = entry.participant if entry is not None else None
                card = notes.card(arrival.bib, participant.id if participant is not None else None)
                if card is None:
                    continue
                popup = self.popup(state, ref, point, card, arrival)
                if self.offer(popup):
                    added.append(popup)
        return added

    def popup(self, state: UiState, ref: AthleteRef, point: int, card: Card, arrival: Arrival) -> Popup:
        standings = state.engine.races[ref[0]]
        entry = standings.athlete(ref[1])
        participant = entry.participant if entry is not None else None
        name = entry.name() if entry is not None else ""
        title = " · ".join(
            x
            for x in (
                ("★ " if ref in state.watch else "") + f"#{ref[1]} {name}".strip(),
                participant.country if participant is not None else None,
                _place(arrival.current_place) if arrival.current_place else None,
            )
            if x
        )
        at = standings.points[point].name
        eta = arrival.eta_ms // 1000 * 1000
        when = f"at {at} in {format_clock(eta)}" if eta > 0 else f"at {at}: due now"
        lines = tuple(card.lines(race_day(state, ref[0]), limit=5))
        return Popup(ref, point, title, when, lines)
