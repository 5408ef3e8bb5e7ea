"""The demo network: the country folder's regions, its institutions file, and the demo accounts its script names.

`nodes.csv` is the country's institutions file, loaded through the directory's own import
(`referral/network/csvio.py`), as an administrator's `flask nodes import` would; `corrections.csv`, when the
folder has one, then updates by code what the institutions file has wrong or outdated. The country's demo
script (`demo.py`, docs/countries.md) then gives the network functions, places and retired nodes
(`directory`) and the accounts (`users`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from ..auth.models import User
from ..auth.passwords import hash_password
from ..db import Base, utcnow
from ..generation import ChangeGeneration
from ..models import import_all
from ..network.csvio import import_csv
from ..network.directory import load_regions
from ..network.models import Node, Region
from ..vault import MasterKeyring
from ..workflow import WorkflowDefinition, load_definition
from .country import default_folder, load_script
from .second_factor import enrol_demo_accounts

DEMO_PASSWORD = "demo-protocolo-2026"
REGIONS, NODES, CORRECTIONS = "regions.csv", "nodes.csv", "corrections.csv"


@dataclass
class DemoNetwork:
    regions: list[Region]
    nodes: dict[str, Node]
    users: dict[str, User] = field(default_factory=dict)  # by e-mail local part

    def user(self, name: str) -> User:
        return self.users[name]

    def node(self, code: str) -> Node:
        return self.nodes[code]


def clear_all(engine: Engine) -> None:
    """Delete every row of every table (children first), keeping the schema and the change generation (whose
    row the migration made; the deletes raise it, so no count from before is reused)."""
    import_all()
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != ChangeGeneration.__tablename__:
                connection.execute(delete(table))


def load_directory(session: Session, definition: WorkflowDefinition, folder: Path,
                   script: ModuleType) -> DemoNetwork:
    """The regions, then nodes.csv and its corrections through the directory import, then the script's touches;
    each node gets an institutional contact address. Flushed."""
    load_regions(session, folder / REGIONS)
    for name in (NODES, CORRECTIONS):
        if not (folder / name).is_file():
            continue
        result = import_csv(session, definition, (folder / name).read_bytes(), utcnow())
        if not result.ok:
            raise RuntimeError(f"demo {name}: " + "; ".join(f"line {e.line}: {e.reason.es}" for e in result.errors))
    session.flush()
    network = DemoNetwork(list(session.scalars(select(Region).order_by(Region.position))),
                          {node.code: node for node in session.scalars(select(Node))})
    script.directory(session, network)
    session.flush()
    network.nodes = {node.code: node for node in session.scalars(select(Node))}  # less any the script retired
    for node in network.nodes.values():
        node.contact_email = f"contacto.{node.code.lower()}@{script.DOMAIN}"
    session.flush()
    return network


def load_network(session: Session, password_profile: str = "standard",
                 definition: WorkflowDefinition | None = None, masters: MasterKeyring | None = None,
                 folder: Path | None = None) -> DemoNetwork:
    """Regions, nodes, network assignments and demo users of the country in `folder` (default: the country the
    application runs when the environment names none); flushed, not committed. The service catalogue comes
    from `definition` (default: the folder's). With `masters`, the accounts that must have a second factor get
    their demo authenticator."""
    folder = folder or default_folder()
    definition = definition or load_definition(folder)
    script = load_script(folder)
    network = load_directory(session, definition, folder, script)
    password = hash_password(DEMO_PASSWORD, password_profile)
    for spec in script.users(network):
        # One hash for every demo account: they share the documented demo password anyway.
        user = User(email=f"{spec.name}@{script.DOMAIN}", display_name=spec.description, password_hash=password,
                    role=spec.role, node_id=network.node(spec.node).id, active=True, manages_node=spec.manages_node)
        session.add(user)
        network.users[spec.name] = user
    session.flush()
    if masters is not None:
        enrol_demo_accounts(session, masters, definition, list(network.users.values()), utcnow())
    return network
