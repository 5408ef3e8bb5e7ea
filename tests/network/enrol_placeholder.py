"""DROP AT MERGE: a stand-in for the enrolment page (`auth.enrol`, built in another branch), so that the
tests of this branch can build enrolment links with `url_for`. Registered by the tests only, and only
when the application has no `auth.enrol` of its own; once the real page is merged this file and the
`app` fixture override in tests/network/conftest.py go."""

from __future__ import annotations

from flask import Flask

from referral.web.access import public


@public
def _enrol_placeholder(token: str) -> str:
    return "enrolment placeholder"


def add_enrol_placeholder(app: Flask) -> None:
    if "auth.enrol" not in app.view_functions:
        app.add_url_rule("/inscripcion/<token>", endpoint="auth.enrol", view_func=_enrol_placeholder)
