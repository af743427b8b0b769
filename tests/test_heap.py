"""The heap freezer: a big field leaves the collector's full passes when it grows and,
live, after a full pass that was slow (reported to it directly here; gc.freeze itself is
the real one)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from racetui.util.heap import HeapFreezer


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
