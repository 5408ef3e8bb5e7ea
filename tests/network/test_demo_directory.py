"""The demo directory: nodes_cl.csv loaded through the import, with places, contacts, managers and functions."""

from __future__ import annotations

from sqlalchemy import select

from referral.auth.models import User
from referral.context import Context
from referral.network.models import Assignment, Node


def test_the_demo_nodes_have_institutional_contacts_and_the_shelters_places(ctx: Context) -> None:
    nodes = {n.code: n for n in ctx.session.scalars(select(Node))}
    assert {"CAVD-CL-RM", "PAV", "SERNAMEG", "MADRE-JOSEFA", "PDI-BITRAP-CL-TA", "MEJOR-NINEZ-CL-MA"} <= set(nodes)
    assert all(n.contact_email == f"contacto.{code.lower()}@demo.cl" for code, n in nodes.items())
    assert (nodes["SERNAMEG"].capacity_total, nodes["SERNAMEG"].capacity_free) == (10, 3)
    counted = {code for code, n in nodes.items() if n.capacity_total is not None}
    assert counted == {"SERNAMEG", "MADRE-JOSEFA"} | {c for c in nodes if c.startswith("MEJOR-NINEZ-")}
    for code in counted:
        node = nodes[code]
        assert node.capacity_free is not None and 0 <= node.capacity_free <= node.capacity_total  # type: ignore[operator]
        assert "alojamiento" in node.services and node.capacity_updated_at is not None
    assert nodes["MEJOR-NINEZ-CL-TA"].services == ["proteccion_nna", "alojamiento"]  # the file's alias, as a code
    assert all(set(n.services) <= set(ctx.definition.network.services) for n in nodes.values())


def test_each_regions_mejor_ninez_office_holds_specialised_child_protection(ctx: Context) -> None:
    held = {(a.region_code, a.node.code) for a in ctx.session.scalars(
        select(Assignment).where(Assignment.function == "proteccion_especializada"))}
    regions = {a.region_code for a in ctx.session.scalars(select(Assignment).where(Assignment.function == "punto_focal"))}
    assert held == {(region, f"MEJOR-NINEZ-{region}") for region in regions} and len(held) == 16


def test_the_case_workers_manage_their_nodes(ctx: Context) -> None:
    managers = {u.email for u in ctx.session.scalars(select(User).where(User.manages_node))}
    regional = {u.email for u in ctx.session.scalars(select(User).where(User.email.like("gestor.%")))}
    assert managers == regional and "gestor.sernameg@demo.cl" in managers and len(managers) == 17


def test_the_demo_corrects_the_shared_files_outdated_names_and_roles(ctx: Context) -> None:
    """Brief section 8 «Names»: the shared file stays byte-identical; the demo's corrections apply."""
    nodes = {n.code: n for n in ctx.session.scalars(select(Node))}
    assert nodes["LIBERA"].name == "Fundación Libera contra la Trata de Personas y la Esclavitud"
    os9 = [n for n in nodes.values() if "OS-9" in n.name]
    assert [n.code for n in os9] == ["CARABINEROS-OS9"]  # OS-9 investigates criminal organisations
    assert "proteccion_policial" not in os9[0].services
    police = {code for code, n in nodes.items() if "proteccion_policial" in n.services}
    assert "CARABINEROS-CL-RM" in police and "PDI-BITRAP-CL-RM" in police
    assert "Secretaría Técnica" in nodes["SERMIG"].name  # the Mesa's technical secretariat sits in SERMIG
    assert nodes["SUBINTERIOR"].name.startswith("Subsecretaría del Interior - Secretaría Ejecutiva")
    # There is no separate technical-secretary node: the shared file's MITP-ST is removed, and the
    # Mesa's auditor works at SERMIG, which receives every residence request.
    assert "MITP-ST" not in nodes
    auditor = ctx.session.scalars(select(User).where(User.email == "auditor@demo.cl")).one()
    assert auditor.node_id == nodes["SERMIG"].id
    names = [u.display_name for u in ctx.session.scalars(select(User))] + [n.name for n in nodes.values()]
    assert not [name for name in names if "Extranjería" in name]  # the pre-SERMIG name
