"""The heap freezer: a big field leaves the collector's full passes when it grows and,
live, after a full pass that was slow (reported to it directly here; gc.freeze itself is
the real one)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from racetui.util.heap import FullPassHold, HeapFreezer


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    HeapFreezer.slow_pass = False
    yield
    HeapFreezer.slow_pass = False
    gc.unfreeze()


def test_a_small_field_is_never_frozen() -> None:
    freezer = HeapFreezer(minimum=5000)
    HeapFreezer.note_pass(500.0)
    assert not freezer(4999) and freezer.freezes == 0


def test_a_big_field_freezes_when_it_grows_and_after_a_slow_full_pass() -> None:
    freezer = HeapFreezer(minimum=5000, step=2000)
    assert freezer(5000) and freezer.frozen_at == 5000
    assert not freezer(5500)  # grown by less than a step (and a quarter)
    assert freezer(7000)  # a step more
    HeapFreezer.note_pass(HeapFreezer.slow_ms / 2)
    assert not freezer(7000)  # live, same field, full passes quick: nothing to do
    HeapFreezer.note_pass(HeapFreezer.slow_ms * 15)  # the passings' objects piled up
    assert freezer(7000) and not HeapFreezer.slow_pass
    assert not freezer(7000) and freezer.freezes == 3


def test_the_collector_reports_its_full_passes() -> None:
    HeapFreezer(minimum=1)
    assert HeapFreezer._on_gc in gc.callbacks and gc.callbacks.count(HeapFreezer._on_gc) == 1
    HeapFreezer(minimum=1)  # one callback per process, however many freezers
    assert gc.callbacks.count(HeapFreezer._on_gc) == 1
    slow = HeapFreezer.slow_ms
    try:
        HeapFreezer.slow_ms = -1.0  # any full pass counts as slow
        gc.collect()
        assert HeapFreezer.slow_pass
    finally:
        HeapFreezer.slow_ms = slow


def test_the_collector_pauses_until_the_last_one_out_and_stays_off_if_it_was() -> None:
    import threading

    from racetui.util.heap import collector_paused

    assert gc.isenabled()
    inside = threading.Event()
    leave = threading.Event()

    def builder() -> None:
        with collector_paused():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=builder)
    thread.start()
    assert inside.wait(10)
    with collector_paused():  # the loop's own build, nested with the worker's
        assert not gc.isenabled()
    assert not gc.isenabled()  # the worker is still inside
    leave.set()
    thread.join(10)
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # off before: left off
    finally:
        gc.enable()


def test_full_passes_wait_for_a_load_and_its_end_freezes_the_heap() -> None:
    """While a load arrives the collector still runs its young generations but no full
    pass; when it ends the thresholds are back and everything alive is frozen. A load that
    never ends is let go after ``most`` seconds (a driven clock), and not held again until
    a load has ended."""
    before = gc.get_threshold()
    now = [0.0]
    hold = FullPassHold(most=60.0, clock=lambda: now[0])
    gc.unfreeze()
    try:
        assert hold(True) is False and hold.held
        assert gc.get_threshold() == (before[0], before[1], FullPassHold.HELD)
        kept = [[n] for n in range(1000)]  # long-lived: survives the young passes
        gc.collect(0)
        gc.collect(1)
        assert gc.get_count()[2] >= 1  # a young pass counted towards a full one, none came
        assert hold(True) is False
        assert hold(False) is True and not hold.held
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() >= len(kept)
        assert hold(False) is False
        gc.unfreeze()

        assert hold(True) is False and hold.held
        now[0] = 61.0
        assert hold(True) is True and not hold.held  # too long: let go, frozen
        assert gc.get_threshold() == before
        now[0] = 200.0
        assert hold(True) is False and not hold.held  # the same long load: not again
        assert hold(False) is False
        assert hold(True) is False and hold.held  # a new load
        assert hold(False) is True
    finally:
        gc.set_threshold(*before)


def test_two_holds_share_the_collector_and_the_last_one_out_puts_it_back() -> None:
    before = gc.get_threshold()
    first, second = FullPassHold(), FullPassHold()
    try:
        first(True)
        second(True)
        first.release()  # a viewer cancelled mid-load: the other still loads
        assert gc.get_threshold()[2] == FullPassHold.HELD
        assert second(False) is True
        assert gc.get_threshold() == before
        first.release()  # twice: nothing more
        assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*before)
