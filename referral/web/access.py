"""Deny by default: every endpoint declares who may reach it, or nobody can.

`@public` (login page), `@signed_in` (any staff), `@needs("file_intake")` (a capability of the
user's role in the workflow), `@needs_any("plan_manage", "audit")` (one of several), `@node_manager` (staff who keep their own node's directory entry,
whatever their role). Case-level checks (the node's relation to the case) are the
services' job; this layer only decides who may reach a page at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import current_user

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Rule:
    anonymous: bool = False
    capability: str | None = None
    node_manager: bool = False
    any_of: tuple[str, ...] = ()  # any one of these capabilities (the Mesa's pages: plan_manage, plan_report, audit)


def _mark(rule: Rule) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        view.__access__ = rule  # type: ignore[attr-defined]
        return view

    return decorate


public = _mark(Rule(anonymous=True))
signed_in = _mark(Rule())
node_manager = _mark(Rule(node_manager=True))


def needs(capability: str) -> Callable[[F], F]:
    return _mark(Rule(capability=capability))


def needs_any(*capabilities: str) -> Callable[[F], F]:
    return _mark(Rule(any_of=tuple(capabilities)))


def rule_of(app: Flask, endpoint: str) -> Rule | None:
    view = app.view_functions.get(endpoint)
    return getattr(view, "__access__", None)


def enforce() -> object:
    """before_request: refuse what is not declared; send anonymous users to the login page."""
    if request.endpoint is None:
        return None  # no such route: Flask answers 404
    if request.endpoint == "static":
        return None
    rule = rule_of(current_app, request.endpoint)
    if rule is None:
        abort(403)
    if rule.anonymous:
        return None
    if not current_user.is_authenticated:
        if request.method == "GET":
            return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
        abort(401)
    if rule.capability is not None:
        from ..network.grants import holds_capability
        from .context import current_ctx

        # The role's capability; where the workflow ties it to a network function (`held_at`), only at
        # the node holding that function (approve_access: national coordination).
        if not holds_capability(current_ctx(), current_user, rule.capability):
            abort(403)
    if rule.any_of:
        from ..network.grants import holds_capability
        from .context import current_ctx

        if not any(holds_capability(current_ctx(), current_user, c) for c in rule.any_of):
            abort(403)
    if rule.node_manager:
        from ..network.editing import may_manage_own_node

        if not may_manage_own_node(current_user):
            abort(403)
    return None
