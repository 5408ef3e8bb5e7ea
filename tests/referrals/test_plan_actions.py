"""A plan action asks for a service: from the plan's page it is referred in one step, with the finder
already set to its service, its committed date and its responsible node."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

from sqlalchemy import select

from referral.kernel.referral_models import Referral

from ..clocks import file_case, to_follow_up
from ..steps import activate, case_id, node_id
from ..units import unit_of_work
from . import consent


def test_a_plan_action_is_referred_in_one_step_from_the_plan(app: Any, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    to_follow_up(app, reference)  # its plan has one action: shelter at SERNAMEG by 01-12-2026
    consent(app, reference)
    focal = make_browser()
    focal.login("coordinador.rm")
    plan = focal.get(f"/casos/{reference}/formularios/plan").text
    links = [html.unescape(u) for u in re.findall(r'href="([^"]*/derivar/derivacion[^"]*)"', plan)]
    sernameg = node_id(app, "SERNAMEG")
    assert links == [f"/casos/{reference}/derivar/derivacion?servicio=alojamiento&fecha=2026-12-01&nodo={sernameg}"]
    assert "Alojamiento o casa de acogida · 01-12-2026 · SERNAMEG" in plan

    finder = focal.get(links[0]).text
    assert re.search(rf'value="{sernameg}" checked', finder)  # the plan's node is chosen
    assert 'value="2026-12-01"' in finder  # and its date
    sent = focal.submit(f"/casos/{reference}/derivar/derivacion", {"servicio": "alojamiento",
                                                                    "to_node": str(sernameg),
                                                                    "due_on": "2026-12-01"},
                        page_url=links[0])
    assert sent.status_code == 303, sent.text
    with unit_of_work(app) as ctx:
        referral = ctx.session.scalar(select(Referral).where(Referral.case_id == case_id(app, reference)))
        assert referral is not None
        assert (referral.service, referral.to_node_id, referral.due_on) == ("alojamiento", sernameg,
                                                                            dt.date(2026, 12, 1))


def test_no_links_for_who_may_not_refer_or_for_an_old_revision(app: Any, make_browser: Any) -> None:
    reference = file_case(app)
    activate(app, reference)
    to_follow_up(app, reference)
    health = make_browser()
    health.login("salud.rm")  # the detecting node may not read the plan at all
    assert health.get(f"/casos/{reference}/formularios/plan").status_code == 403
    focal = make_browser()
    focal.login("coordinador.rm")
    assert "/derivar/" not in focal.get(f"/casos/{reference}/formularios/plan?revision=1").text
    assert focal.get(f"/casos/{reference}/derivar/derivacion?servicio=alojamiento&fecha=mañana").status_code == 400
