"""The heap freezer: a big field leaves the collector's full passes when it grows and,
live, every few seconds (driven by its own clock here; gc.freeze itself is the real one)."""

from __future__ import annotations

import gc

from racetui.util.heap import HeapFreezer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_small_field_is_never_frozen() -> None:
    clock = Clock()
    freezer = HeapFreezer(minimum=5000, clock=clock)
    assert not freezer(4999)
    clock.now += 3600
    assert not freezer(4999) and freezer.freezes == 0


def test_a_big_field_freezes_when_it_grows_and_then_every_few_seconds_live() -> None:
    clock = Clock()
    freezer = HeapFreezer(minimum=5000, step=2000, every=5.0, clock=clock)
    before = gc.get_freeze_count()
    try:
        assert freezer(5000) and freezer.frozen_at == 5000
        assert gc.get_freeze_count() >= before
        assert not freezer(5500)  # grown by less than a step (and a quarter)
        assert freezer(7000)  # a step more
        clock.now += 4.9
        assert not freezer(7000)  # live, same field: not yet
        clock.now += 0.2
        assert freezer(7000)  # the passings' new objects join the frozen ones
        assert not freezer(7000)
        assert freezer.freezes == 3
    finally:
        gc.unfreeze()


def test_without_a_period_only_growth_freezes() -> None:
    clock = Clock()
    freezer = HeapFreezer(minimum=1, every=None, clock=clock)
    assert freezer(10)
    clock.now += 3600
    assert not freezer(10)
    gc.unfreeze()
