"""What the simulator simulates: :class:`SimConfig` (the event and how to run it) and
:class:`RaceSpec` (one race in it), plus the ``--races`` text form.

A race spec in text is ``KIND[:ENTRIES][@START]`` where KIND is one of

* ``road`` (a marathon), ``marathon``, ``half``, ``10k`` — road races;
* ``triathlon`` (standard distance), ``standard``, ``sprint`` — triathlons;
* ``relay`` — a mixed relay (teams of four, F/M/F/M);

ENTRIES is the number of athletes (teams for a relay) and START the minutes after the
first gun at which this race starts (default: 0 for the first race, then every 10 minutes),
e.g. ``marathon:20000,10k:5000@30,sprint:300@45,relay:16@90``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

__all__ = ["KINDS", "VARIANTS", "ClockMode", "RaceSpec", "SimConfig", "SimConfigError", "parse_races"]

ClockMode = Literal["real", "manual"]

# variant -> kind
VARIANTS: dict[str, str] = {
    "marathon": "road",
    "half": "road",
    "10k": "road",
    "standard": "triathlon",
    "sprint": "triathlon",
    "mixed": "relay",
}
# kind -> default variant
KINDS: dict[str, str] = {"road": "marathon", "triathlon": "standard", "relay": "mixed"}

# Entries per kind: what the simulator is built for.
LIMITS: dict[str, tuple[int, int]] = {"road": (1, 100_000), "triathlon": (1, 5_000), "relay": (1, 200)}
DEFAULT_ENTRIES: dict[str, int] = {"road": 2_000, "triathlon": 60, "relay": 16}


class SimConfigError(ValueError):
    """A configuration value that cannot be simulated; the message names it."""


@dataclass(frozen=True, slots=True)
class RaceSpec:
    """One race of the simulated event.

    ``kind`` is ``road``, ``triathlon`` or ``relay``; ``variant`` the distance
    (``marathon``/``half``/``10k``, ``standard``/``sprint``, ``mixed``; ``None`` = the
    kind's default); ``entries`` athletes (relay: teams of four; ``None`` = the kind's
    default); ``start_after_s`` seconds after the event's first gun (``None`` = 0 for the
    first race, then every 10 minutes); ``start_mode`` ``mass`` or ``waves`` (``None`` =
    waves for road races of 2,000 or more and age-group triathlons, else mass);
    ``name`` overrides the generated race name.
    """

    kind: str = "road"
    variant: str | None = None
    entries: int | None = None
    start_after_s: float | None = None
    start_mode: str | None = None
    name: str | None = None

    def resolved(self) -> RaceSpec:
        """The spec with defaults filled in; raises :class:`SimConfigError` naming what is wrong."""
        kind = self.kind.strip().lower()
        if kind in VARIANTS:  # a variant given as the kind
            variant = kind
            kind = VARIANTS[kind]
        elif kind in KINDS:
            variant = (self.variant or KINDS[kind]).strip().lower()
        else:
            raise SimConfigError(
                f"kind: unknown race kind {self.kind!r} (expected road, marathon, half, 10k, "
                "triathlon, standard, sprint or relay)"
            )
        if VARIANTS.get(variant) != kind:
            raise SimConfigError(f"variant: {variant!r} is not a {kind} race")
        entries = DEFAULT_ENTRIES[kind] if self.entries is None else self.entries
        low, high = LIMITS[kind]
        if not isinstance(entries, int) or not low <= entries <= high:
            what = "teams" if kind == "relay" else "athletes"
            raise SimConfigError(f"athletes: a {kind} race takes {low} to {high} {what}, got {entries!r}")
        if self.start_mode not in (None, "mass", "waves"):
            raise SimConfigError(f"start_mode: expected mass or waves, got {self.start_mode!r}")
        if self.start_after_s is not None and not 0 <= self.start_after_s <= 24 * 3600:
            raise SimConfigError(f"start: expected 0 to 1440 minutes, got {self.start_after_s / 60:g}")
        return replace(self, kind=kind, variant=variant, entries=entries)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """The simulated event and how its clock runs.

    ``races`` lists the races; when empty, one race of ``kind`` with ``athletes`` entries.
    ``seed`` makes everything deterministic. ``countdown`` is the seconds from the start
    of the simulation to the first gun. ``clock`` is ``real`` (race time runs at ``speed``
    times real time) or ``manual`` (race time moves only by ``Sim.advance``).
    ``epoch`` is the wall-clock time of simulation time zero (``None``: the wall-clock
    time when a real-clock simulation starts, else 2026-11-23T08:00:00Z).
    ``push_queue`` bounds each push subscriber's queue of unsent messages.
    ``wire`` makes the BBT API answer like a master that differs from the documented form
    (:class:`racetui.sim.variants.WireVariant`, e.g. ``"ids=text,durations=ms"``).
    """

    kind: str = "road"
    athletes: int | None = None
    races: tuple[RaceSpec, ...] = field(default_factory=tuple)
    seed: int = 1
    speed: float = 1.0
    countdown: float = 60.0
    clock: ClockMode = "real"
    epoch: datetime | None = None
    event_name: str | None = None
    push_queue: int = 10_000
    wire: str = ""

    def race_specs(self) -> list[RaceSpec]:
        """The races, resolved and validated."""
        specs = list(self.races) or [RaceSpec(kind=self.kind, entries=self.athletes)]
        if len(specs) > 20:
            raise SimConfigError(f"races: at most 20 races in one event, got {len(specs)}")
        resolved = []
        for index, spec in enumerate(specs):
            spec = spec.resolved()
            if spec.start_after_s is None:
                spec = replace(spec, start_after_s=600.0 * index)
            resolved.append(spec)
        return resolved

    def validate(self) -> SimConfig:
        if not isinstance(self.seed, int):
            raise SimConfigError(f"seed: expected a whole number, got {self.seed!r}")
        if not 0 < self.speed <= 100_000:
            raise SimConfigError(f"speed: expected more than 0 and at most 100000, got {self.speed!r}")
        if not 0 <= self.countdown <= 24 * 3600:
            raise SimConfigError(f"countdown: expected 0 to 86400 seconds, got {self.countdown!r}")
        if self.clock not in ("real", "manual"):
            raise SimConfigError(f"clock: expected real or manual, got {self.clock!r}")
        if self.push_queue < 1:
            raise SimConfigError(f"push_queue: expected at least 1, got {self.push_queue!r}")
        from racetui.sim.variants import WireVariant, WireVariantError

        try:
            WireVariant.parse(self.wire)
        except WireVariantError as exc:
            raise SimConfigError(f"wire: {exc}") from None
        self.race_specs()
        return self


def parse_races(text: str) -> tuple[RaceSpec, ...]:
    """Parse ``KIND[:ENTRIES][@START_MINUTES]`` items separated by commas."""
    specs = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        start: float | None = None
        if "@" in item:
            item, _, start_text = item.partition("@")
            try:
                start = float(start_text) * 60.0
            except ValueError:
                raise SimConfigError(f"races: start minutes must be a number, got {start_text!r}") from None
        entries: int | None = None
        if ":" in item:
            item, _, entries_text = item.partition(":")
            try:
                entries = int(entries_text)
            except ValueError:
                raise SimConfigError(
                    f"races: athletes must be a whole number, got {entries_text!r}"
                ) from None
        spec = RaceSpec(kind=item.strip(), entries=entries, start_after_s=start)
        specs.append(spec.resolved())
    if not specs:
        raise SimConfigError(f"races: no race in {text!r}")
    return tuple(specs)
