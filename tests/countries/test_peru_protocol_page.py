"""/protocolo under Peru draws Peru's machines and says nothing of Chile (issue 19)."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from .peru import PeruBrowser

# Labels of Peru's states (workflows/peru/workflow.yaml), of the case and of its tracks, as the diagrams draw them.
PERU_STATES = ("Detectado", "En evaluación", "Activado (ingresó al Protocolo)",
               "Plan de Reintegración Individual en elaboración", "Seguimiento", "Cerrado",
               "En el CAR de emergencia", "Egresó del CAR de emergencia",
               "Denuncia registrada (diligencias preliminares)", "Presentada a Migraciones")
CHILEAN = ("Región", "PDI", "Chile", "chileno", "Carabineros", "SERMIG", "SernamEG", "Fiscalía Nacional",
           "Informe Social", "Ley 21.325", "RUC", "CAVD")


def test_the_protocol_page_under_peru_draws_perus_machines_and_no_chilean_word(peru_browser: Any) -> None:
    browser: PeruBrowser = peru_browser()
    assert browser.login("coordinador.lma").status_code == 302
    page = browser.get("/protocolo")
    assert page.status_code == 200
    svgs = re.findall(r"<svg[\s\S]*?</svg>", page.text)
    assert len(svgs) >= 4  # the case, the emergency CAR, the prosecution, the migratory status
    drawn = unescape(" ".join(re.sub(r"<[^>]+>", " ", svg) for svg in svgs))
    drawn = re.sub(r"\s+", " ", drawn)
    for label in PERU_STATES:
        assert label in drawn, label
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page.text)))
    assert "Plan de Reintegración Individual" in text
    for word in CHILEAN:
        assert not re.search(rf"\b{re.escape(word)}\b", text), word
