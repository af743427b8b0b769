"""Roles in the dashboard: which keys a session's role may use (:mod:`racetui.config`'s
:class:`~racetui.config.Role` says what each role may do; this is where the keys meet it).

An action a role may not use is marked with :func:`gated`: its key is left out of the
footer (:func:`action_permission` tells the footer) and, pressed anyway, the action says
why instead of running ("read-only: commentator role"). The app refuses again where an
entry is recorded (``RaceApp._record_desk_entry``), so no path around a key records one.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from textual.actions import ActionParseResult, parse

from racetui.config import Permission, Role, role_allows
from racetui.sources.desk import permission_for

__all__ = ["action_permission", "desk_permission", "gated", "refusal"]

F = TypeVar("F", bound=Callable[..., Any])
PermissionRule = Permission | Callable[..., Permission]

# Desk actions a timer records from the timing tent: who did not start, stepped off, was lapped.


def desk_permission(action: str, *_args: Any) -> Permission:
    """The permission a desk key needs (the desk's one rule: :func:`permission_for`)."""
    return permission_for(action)


def refusal(role: Role | None, permission: Permission) -> str:
    """Why a key did nothing, short enough for a toast at 80 columns."""
    if role is Role.COMMENTATOR or role is None:
        return "read-only: commentator role"
    what = {
        Permission.DESK: "penalties and DSQ are the TD's",
        Permission.STATUS: "race status is the timer's or the TD's",
        Permission.REVIEW: "held entries are the TD's",
        Permission.PUBLISH: "publishing is the timer's",
    }[permission]
    return f"not for the {role.label} role: {what}"


def _rule_permission(rule: PermissionRule, args: tuple[Any, ...]) -> Permission:
    return rule if isinstance(rule, Permission) else rule(*args)


def gated(rule: PermissionRule) -> Callable[[F], F]:
    """Mark an ``action_*`` method as needing a permission (or a function of the action's
    arguments that names one). Refused actions notify the reason and do nothing."""

    def decorate(method: F) -> F:
        def allowed(node: Any, args: tuple[Any, ...]) -> bool:
            app = node.app
            role = getattr(getattr(app, "config", None), "role", None)
            permission = _rule_permission(rule, args)
            if role_allows(role, permission):
                return True
            app.notify(refusal(role, permission), title="Role", severity="warning", markup=False)
            return False

        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def run_async(self: Any, *args: Any, **kwargs: Any) -> Any:
                if allowed(self, args):
                    return await method(self, *args, **kwargs)
                return None

            wrapper: Any = run_async
        else:

            @functools.wraps(method)
            def run(self: Any, *args: Any, **kwargs: Any) -> Any:
                if allowed(self, args):
                    return method(self, *args, **kwargs)
                return None

            wrapper = run
        wrapper.racetui_permission = rule
        return wrapper  # type: ignore[no-any-return]

    return decorate


def action_permission(node: Any, action: str) -> Permission | None:
    """The permission a binding's action string (``desk('penalty')``, ``app.quit``) needs
    on ``node`` (a screen), or None when anyone may use it."""
    try:
        parsed: ActionParseResult = parse(action)
    except Exception:  # an action Textual cannot parse is nobody's to gate
        return None
    target, name, args = parsed
    owner = node.app if target == "app" else node
    method = getattr(owner, f"action_{name}", None)
    rule = getattr(method, "racetui_permission", None)
    if rule is None:
        return None
    return _rule_permission(rule, tuple(args))
