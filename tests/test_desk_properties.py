"""Whatever an official tries, in any order: the desk records it or refuses it with a
reason; an undo restores exactly what was there before the step; nothing reported and not
confirmed ever leaves the desk. (The pure fold and checks, many sequences; the store's
SQLite path is covered by the other desk tests.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from racetui.sources.desk import ActionKind, DeskAction, DeskError, EntryState
from racetui.sources.desk.lifecycle import DeskEntry, check, fold

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
BOXES = ["bike box", "run box"]
KINDS = [k for k in ActionKind]

step = st.tuples(
    st.sampled_from(KINDS),
    st.integers(min_value=0, max_value=12),  # which earlier action or entry (by position)
    st.sampled_from([None, 10, 30]),
    st.sampled_from([None, "drafting", "littering"]),
    st.sampled_from([None, "why"]),
    st.sampled_from([None, "bike box", "run box", "tent"]),
    st.sampled_from([None, ActionKind.PENALTY, ActionKind.DSQ]),
)


def snapshot(entries: dict[int, DeskEntry]) -> list[tuple[object, ...]]:
    return [
        (e.id, e.kind, e.state, e.seconds, e.infringement, e.reason, e.box, e.entered, e.left, e.penalty)
        for e in entries.values()
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=25))
def test_any_sequence_is_recorded_or_refused_and_undo_restores(steps: list[tuple[object, ...]]) -> None:
    actions: list[DeskAction] = []
    for n, (kind, pick, seconds, infringement, reason, box, subject) in enumerate(steps, 1):
        assert isinstance(kind, ActionKind) and isinstance(pick, int)
        entries = fold(actions)
        if kind is ActionKind.UNDO:
            target = actions[pick % len(actions)].id if actions else None
        else:
            target = list(entries)[pick % len(entries)] if entries else None
        try:
            check(
                entries,
                kind,
                bib="7",
                race_id="r",
                seconds=seconds,  # type: ignore[arg-type]
                infringement=infringement,  # type: ignore[arg-type]
                reason=reason,  # type: ignore[arg-type]
                target=target,
                box=box,  # type: ignore[arg-type]
                subject=subject if kind is ActionKind.REPORT else None,  # type: ignore[arg-type]
                boxes=BOXES,
            )
        except DeskError as exc:
            assert str(exc).split(":")[0]  # the refusal names what was wrong
            continue
        before = snapshot(entries)
        act = DeskAction(
            n,
            T0 + timedelta(seconds=n),
            "TD",
            "r",
            "7",
            kind,
            seconds=seconds,  # type: ignore[arg-type]
            infringement=infringement,  # type: ignore[arg-type]
            reason=reason,  # type: ignore[arg-type]
            target=target,
            box=box,  # type: ignore[arg-type]
            subject=(subject or ActionKind.PENALTY) if kind is ActionKind.REPORT else None,  # type: ignore[arg-type]
        )
        actions.append(act)
        after = fold(actions)
        for entry in after.values():
            # only confirmed entries leave the desk
            assert (entry.incident() is not None) <= entry.published
            assert not (entry.pending and entry.published)
            if entry.state is EntryState.SERVED:
                assert entry.kind is ActionKind.PENALTY and entry.decided is not None
        if kind is not ActionKind.UNDO:
            # undoing the step just recorded gives back exactly what was there
            probe = [*actions, DeskAction(n + 1000, act.at, "TD", "r", "7", ActionKind.UNDO, target=act.id)]
            check(
                after,
                ActionKind.UNDO,
                bib="7",
                race_id="r",
                seconds=None,
                infringement=None,
                reason=None,
                target=act.id,
                box=None,
                subject=None,
                boxes=BOXES,
            )
            assert snapshot(fold(probe)) == before
