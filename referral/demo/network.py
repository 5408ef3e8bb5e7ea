"""The demo network: Chile's 16 regions, the institutions of nodes_cl.csv, and a demo user per role.

nodes_cl.csv is a copy of the shared institutions file (kept byte-identical), loaded through the
directory's own import (`referral/network/csvio.py`), as an administrator's `flask nodes import` would;
corrections_cl.csv, the demo's own file, then updates by code what the shared file has wrong or
outdated (brief section 8: exact names, OS-9 investigates and gives no police protection, the Mesa's
Secretaría Técnica sits in SERMIG, the Secretaría Ejecutiva in the Subsecretaría del Interior), and
removes what it lists that does not exist (RETIRED).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from ..auth.models import User
from ..auth.passwords import hash_password
from ..config import PROJECT_ROOT
from ..db import Base, utcnow
from ..generation import ChangeGeneration
from ..models import import_all
from ..network.csvio import import_csv
from ..network.directory import assign, load_regions, short_region_name
from ..network.models import Node, Region
from ..vault import MasterKeyring
from ..workflow import WorkflowDefinition, load_definition
from .second_factor import enrol_demo_accounts

DATA = Path(__file__).resolve().parent / "data"
DEMO_PASSWORD = "demo-protocolo-2026"
DOMAIN = "demo.cl"

# (email local part, node code, role, description); regional coordinators and case workers are
# added for every region by region code (coordinador.rm, gestor.rm, ...).
NAMED_USERS = (
    ("coordinacion.nacional", "PAV", "coordinador", "Coordinación nacional PAV"),
    ("ong", "LIBERA", "deteccion", "Equipo de detección Fundación Libera"),
    ("ong.incami", "INCAMI", "deteccion", "Equipo de detección INCAMI"),
    ("salud.rm", "MINSAL-CL-RM", "deteccion", "Referente de salud, Metropolitana"),
    ("salud.ta", "MINSAL-CL-TA", "deteccion", "Referente de salud, Tarapacá"),
    ("policia.rm", "PDI-BITRAP-CL-RM", "deteccion", "BITRAP PDI, Metropolitana"),
    ("policia.ta", "PDI-BITRAP-CL-TA", "deteccion", "BITRAP PDI, Tarapacá"),
    ("trabajo.rm", "DT-CL-RM", "deteccion", "Inspección del Trabajo, Metropolitana"),
    ("gestor.sernameg", "SERNAMEG", "gestor", "Casa de acogida SernamEG"),
    ("oim", "OIM", "gestor", "Retorno voluntario asistido OIM"),
    ("migraciones", "SERMIG", "migraciones", "Servicio Nacional de Migraciones (SERMIG)"),
    ("consulado", "MINREL", "gestor", "Consulados de Chile (MINREL, DIGECONSU)"),
    ("auditor", "SERMIG", "auditor", "Secretaría Técnica de la Mesa, SERMIG (auditoría)"),
    ("secretaria.mesa", "SERMIG", "secretaria_tecnica", "Secretaría Técnica de la Mesa Intersectorial, SERMIG"),
    ("plan.pav", "PAV", "punto_focal_plan", "Punto focal del Plan de Acción, Programa Apoyo a Víctimas"),
    ("administrador", "PAV", "administrador", "Administración del sistema"),
    # issue 18, the Mesa's meetings: two more institutions' focal points of the Plan (the Secretaría Técnica is above)
    ("mesa.focal.sernameg", "SERNAMEG", "punto_focal_plan", "Punto focal del Plan de Acción, SernamEG"),
    ("mesa.focal.pdi", "PDI-BITRAP-CL-RM", "punto_focal_plan", "Punto focal del Plan de Acción, PDI"),
)
# Nodes of the shared file that do not exist: the Mesa's Secretaría Técnica is part of SERMIG (seed 002;
# brief section 8: "There is no separate technical-secretary node"), which is told of every residence
# request because it receives it.
RETIRED = ("MITP-ST",)
# Demo accounts that keep their node's services, places and contacts current.
MANAGERS = ("gestor.sernameg",)  # and every regional gestor.<region>
# Places (total, free) of the demo's shelters; every MEJOR-NINEZ-<region> office has some too.
CAPACITY = {"SERNAMEG": (10, 3), "MADRE-JOSEFA": (12, 5)}


@dataclass
class DemoNetwork:
    regions: list[Region]
    nodes: dict[str, Node]
    users: dict[str, User] = field(default_factory=dict)  # by email local part

    def user(self, name: str) -> User:
        return self.users[name]

    def coordinator(self, region: str) -> User:
        return self.users[f"coordinador.{region_suffix(region)}"]

    def case_worker(self, region: str) -> User:
        return self.users[f"gestor.{region_suffix(region)}"]

    def node(self, code: str) -> Node:
        return self.nodes[code]


def region_suffix(code: str) -> str:
    return code.removeprefix("CL-").lower()


def clear_all(engine: Engine) -> None:
    """Delete every row of every table (children first), keeping the schema and the change generation (whose
    row the migration made; the deletes raise it, so no count from before is reused)."""
    import_all()
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != ChangeGeneration.__tablename__:
                connection.execute(delete(table))


def load_directory(session: Session, definition: WorkflowDefinition) -> dict[str, Node]:
    """The regions, then nodes_cl.csv and its corrections through the directory import; each node gets an institutional
    contact address and the shelters their places. Return the nodes by code."""
    regions = load_regions(session, DATA / "regions_cl.csv")
    for name in ("nodes_cl.csv", "corrections_cl.csv"):
        result = import_csv(session, definition, (DATA / name).read_bytes(), utcnow())
        if not result.ok:
            raise RuntimeError(f"demo {name}: " + "; ".join(f"line {e.line}: {e.reason.es}" for e in result.errors))
    for node in session.scalars(select(Node).where(Node.code.in_(RETIRED))):
        session.delete(node)
    session.flush()
    nodes = {node.code: node for node in session.scalars(select(Node))}
    now = utcnow()
    for node in nodes.values():
        node.contact_email = f"contacto.{node.code.lower()}@{DOMAIN}"
    capacity = {**CAPACITY, **{f"MEJOR-NINEZ-{r.code}": (8, 1 + r.position % 4) for r in regions}}
    for code, (total, free) in capacity.items():
        nodes[code].capacity_total, nodes[code].capacity_free, nodes[code].capacity_updated_at = total, free, now
    session.flush()
    return nodes


def load_network(session: Session, password_profile: str = "standard",
                 definition: WorkflowDefinition | None = None, masters: MasterKeyring | None = None) -> DemoNetwork:
    """Regions, nodes, network assignments and demo users; flushed, not committed. The service
    catalogue comes from `definition` (default: the Chilean workflow, which the demo is written for).
    With `masters`, the accounts that must have a second factor get their demo authenticator."""
    definition = definition or load_definition(PROJECT_ROOT / "workflows" / "chile")
    nodes = load_directory(session, definition)
    regions = list(session.scalars(select(Region).order_by(Region.position)))
    for region in regions:
        assign(session, "punto_focal", nodes[f"CAVD-{region.code}"], region.code)
        assign(session, "proteccion_especializada", nodes[f"MEJOR-NINEZ-{region.code}"], region.code)
    assign(session, "coordinacion_nacional", nodes["PAV"])
    assign(session, "servicio_migraciones", nodes["SERMIG"])
    assign(session, "servicio_consular", nodes["MINREL"])
    network = DemoNetwork(regions, nodes)
    password = hash_password(DEMO_PASSWORD, password_profile)
    specs = list(NAMED_USERS)
    managers = set(MANAGERS)
    for region in regions:
        short = short_region_name(region)
        suffix = region_suffix(region.code)
        specs.append((f"coordinador.{suffix}", f"CAVD-{region.code}", "coordinador", f"Coordinación CAVD {short}"))
        specs.append((f"gestor.{suffix}", f"CAVD-{region.code}", "gestor", f"Gestión de casos CAVD {short}"))
        managers.add(f"gestor.{suffix}")
    for name, node_code, role, description in specs:
        # One hash for every demo account: they share the documented demo password anyway.
        user = User(email=f"{name}@{DOMAIN}", display_name=description, password_hash=password, role=role,
                    node_id=nodes[node_code].id, active=True, manages_node=name in managers)
        session.add(user)
        network.users[name] = user
    session.flush()
    if masters is not None:
        enrol_demo_accounts(session, masters, definition, list(network.users.values()), utcnow())
    return network
