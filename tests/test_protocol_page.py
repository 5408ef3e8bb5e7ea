"""`/protocolo`: the rules in force, read from the definition: links between cases and the case page's
notices are listed with the rest (issue 15's open point)."""

from __future__ import annotations

import html
from typing import Any

from referral.main.protocol import protocol_view


def test_the_protocol_page_lists_the_links_between_cases_and_the_notices_with_whom_they_reach(
        app: Any, make_browser: Any) -> None:
    definition = app.extensions["referral.protocol"].definition
    auditor = make_browser()
    auditor.login("auditor")
    page = html.unescape(auditor.get("/protocolo").text)
    link = definition.links["causa_penal"]
    assert link.label.es in page and "RUC" in page
    notice = definition.notices["no_punibilidad"]
    assert notice.message.es in page
    view = protocol_view(definition, "es")
    (row,) = view.notices
    assert "Nodo líder" in row.shown_to and row.basis  # who sees it, and where the rule comes from
    (linked,) = view.links
    assert linked.counted_for and "Causa penal" in linked.field


def test_the_protocol_page_speaks_english_too(app: Any) -> None:
    definition = app.extensions["referral.protocol"].definition
    view = protocol_view(definition, "en")
    assert view.notices[0].message == definition.notices["no_punibilidad"].message.en
    assert view.links[0].label == "Cases of the same criminal case"
