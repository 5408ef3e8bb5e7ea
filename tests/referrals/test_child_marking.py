"""A child case is marked as such everywhere it appears: worklists, the case page, the referral pages,
my node's referrals, and the notifications about it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..clocks import tick
from .test_nna import child_case


def test_every_page_that_shows_a_child_case_marks_it(app: Any, make_browser: Any, clock: Any) -> None:
    reference = child_case(app)
    tick(app, clock.now + dt.timedelta(hours=19))  # the triage reminder, 6 hours before its deadline
    focal = make_browser()
    focal.login("coordinador.rm")
    badge = 'class="badge flag-nna"'
    inbox = focal.get("/bandeja/triaje").text
    assert reference in inbox and badge in inbox.split(reference, 1)[1].split("</td>", 1)[0]
    assert badge in focal.get(f"/casos/{reference}").text
    notes = focal.get("/notificaciones").text
    assert reference in notes
    item = notes.split(reference, 1)[0].rsplit('<li class="note', 1)[1]  # the notification about it
    assert badge in item
    assert badge in focal.get(f"/casos/{reference}/derivar/proteccion_nna").text
