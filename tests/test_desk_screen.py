"""The penalty lifecycle on the desk screens, driven by keys as an official drives them:
report (!), confirm (C) / decline (D), box (b), in (B) and out (O) of the box, unserved at
the finish (U) → the proposed DSQ confirmed, undo (z); and the operator's name, asked once."""

from __future__ import annotations

from typing import Any

from racetui.config import Config, DeskConfig, default_operator
from racetui.model import Status
from racetui.sources.desk import ActionKind, EntryState
from racetui.tui.app import RaceApp
from racetui.tui.screens.athlete import AthleteScreen
from racetui.tui.screens.desk import ConfirmDeskEntry, DeskForm, OperatorPrompt
from tests.test_tui_desk import OPEN, confirm, fill, make_app, open_athlete, static_text, status, texts

SETTINGS = DeskConfig(boxes=["bike box", "run box"], penalties={"drafting": 30})


def lifecycle_app(**kwargs: Any) -> RaceApp:
    app = make_app(**kwargs)
    app.config.desk = SETTINGS
    assert app.desk is not None
    app.desk.settings = SETTINGS
    return app


async def form(pilot: Any, app: RaceApp, key: str) -> DeskForm:
    await pilot.press(key)
    await pilot.pause()
    assert isinstance(app.screen, DeskForm), app.screen
    return app.screen


def entry_states(app: RaceApp, bib: str) -> list[EntryState]:
    assert app.desk is not None
    return [e.state for e in app.desk.entries_of(OPEN, bib)]


async def test_report_confirm_box_in_out_and_undo() -> None:
    app = lifecycle_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_athlete(pilot, app, "42")
        # an official's report: no seconds typed, the rule's length from the race settings
        await form(pilot, app, "exclamation_mark")
        await pilot.press("tab")
        await fill(pilot, "drafting")
        await pilot.press("tab")
        await fill(pilot, "bike lap 2")
        await pilot.press("enter")
        shown = await confirm(pilot, app)
        assert shown == (
            "reported: 30 second penalty for drafting at bike lap 2\n"
            "(pending: on the desk only, until confirmed)"
        )
        assert texts(app, "42") == []  # pending: not in the results
        assert "#1 30 second penalty for drafting PENDING (desk only) · TD Jane" in static_text(
            app, "#incidents"
        )

        # confirm: the only pending entry, straight to the confirmation
        await pilot.press("C")
        assert await confirm(pilot, app) == "30 second penalty for drafting  (published from now on)"
        assert texts(app, "42") == ["30 second penalty for drafting"]

        # to a box, then in it (the assigned box is the default), then out: served
        box = await form(pilot, app, "b")
        assert [str(v) for v in (box.query_one("#box").value,)] == ["bike box"]  # type: ignore[attr-defined]
        await pilot.press("enter")
        assert await confirm(pilot, app) == "30 second penalty for drafting: to serve at the bike box"
        assert "NOT SERVED · bike box" in static_text(app, "#incidents")
        await form(pilot, app, "B")
        await pilot.press("enter")
        assert (await confirm(pilot, app)).endswith("in the bike box now, the time starts")
        assert entry_states(app, "42") == [EntryState.IN_BOX]
        assert "IN BIKE BOX" in static_text(app, "#incidents")
        await pilot.press("O")
        assert await confirm(pilot, app) == "Served 30 second penalty for drafting"
        assert texts(app, "42") == ["Served 30 second penalty for drafting"]

        # undo: the latest step (left the box) is the default choice
        await form(pilot, app, "z")
        await pilot.press("enter")
        assert (await confirm(pilot, app)).startswith("undo #")
        assert entry_states(app, "42") == [EntryState.IN_BOX]
        assert texts(app, "42") == ["30 second penalty for drafting"]
        assert app.desk is not None
        kinds = [a.action for a in app.desk.audit(bib="42")]
        assert kinds == ["report", "confirm", "assign", "enter", "leave", "undo"]
        assert isinstance(app.screen, AthleteScreen)


async def test_decline_needs_a_reason_and_nothing_pending_says_so() -> None:
    app = lifecycle_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_athlete(pilot, app, "42")
        await pilot.press("C")
        await pilot.pause()
        assert isinstance(app.screen, AthleteScreen)  # a notice, no form
        await form(pilot, app, "exclamation_mark")
        await fill(pilot, "10")
        await pilot.press("tab")
        await fill(pilot, "littering")
        await pilot.press("enter")
        await confirm(pilot, app)
        await form(pilot, app, "D")
        await pilot.press("enter")  # no reason
        await pilot.pause()
        assert "reason: say why it is declined" in static_text(app, "#error")
        await fill(pilot, "handed up at the aid station")
        await pilot.press("enter")
        assert await confirm(pilot, app) == (
            "declined: 10 second penalty for littering  (never published)\n"
            "reason: handed up at the aid station"
        )
        assert entry_states(app, "42") == [] and texts(app, "42") == []


async def test_unserved_at_the_finish_is_dsq_once_confirmed() -> None:
    app = lifecycle_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_athlete(pilot, app, "42")
        await form(pilot, app, "plus")
        await fill(pilot, "15")
        await pilot.press("tab")
        await fill(pilot, "littering")
        await pilot.press("enter")
        await confirm(pilot, app)
        await form(pilot, app, "U")
        await pilot.press("enter")
        shown = await confirm(pilot, app)
        assert shown.endswith(
            "proposes: DSQ for failing to serve a 15 second penalty for littering (applies once confirmed)"
        )
        assert status(app, "42") is Status.OK
        await pilot.press("C")
        assert (await confirm(pilot, app)).startswith(
            "DSQ for failing to serve a 15 second penalty for littering"
        )
        assert status(app, "42") is Status.DSQ


async def test_the_operator_is_asked_once_when_unset() -> None:
    app = lifecycle_app()
    app.config = Config(operator=default_operator(), desk=SETTINGS)
    app.operator_named = False
    async with app.run_test(size=(80, 24)) as pilot:
        await open_athlete(pilot, app, "42")
        await pilot.press("S")
        await pilot.pause()
        assert isinstance(app.screen, OperatorPrompt)
        field = app.screen.query_one("#operator")
        field.value = ""  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        assert "a name is needed" in static_text(app, "#error")
        await fill(pilot, "Ann Official")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDeskEntry)  # the action goes on
        assert "by Ann Official" in static_text(app, "#by")
        await pilot.press("y")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, DeskForm)  # no second question
        assert app.focused is not None and app.focused.id == "reason"  # the field, not a choice
        await pilot.press("escape")
        assert app.desk is not None
        [action] = app.desk.audit(bib="42")
        assert (action.action, action.operator) == (ActionKind.DNS, "Ann Official")


async def test_the_incidents_screen_counts_pending_reports() -> None:
    app = lifecycle_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.desk is not None
        app.desk.report(OPEN, "42", infringement="drafting")
        app.desk.report(OPEN, "43", seconds=10, infringement="littering")
        await pilot.press("4")
        await pilot.pause()
        assert "⌂ 2 on the desk only (reported or held: C/D)" in static_text(app, "#info")


async def test_hold_back_and_release() -> None:
    app = lifecycle_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_athlete(pilot, app, "42")
        await form(pilot, app, "plus")
        await fill(pilot, "15")
        await pilot.press("tab")
        await fill(pilot, "littering")
        await pilot.press("enter")
        await confirm(pilot, app)
        await form(pilot, app, "H")
        await pilot.press("enter")
        assert await confirm(pilot, app) == (
            "held back: 15 second penalty for littering\n(on the desk only until released with C)"
        )
        assert texts(app, "42") == []
        assert "HELD (desk only, C releases)" in static_text(app, "#incidents")
        await pilot.press("C")
        assert (
            await confirm(pilot, app) == "released: 15 second penalty for littering  (published from now on)"
        )
        assert texts(app, "42") == ["15 second penalty for littering"]
