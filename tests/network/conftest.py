"""Fixtures of the node directory tests: the directory put back after a test on PostgreSQL (whose
test database keeps its network between tests; a SQLite test has its own copy anyway)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from referral.auth.models import AccountToken, User, UserSession
from referral.extensions import database
from referral.kernel.key_models import NodeKey
from referral.network.models import AccessGrant, AccessNotice, Assignment, Node, NodeRegion


@pytest.fixture
def directory(app: Any, backend: str) -> Iterator[None]:
    """Undo every change to nodes, their regions, assignments and accounts after the test."""
    if backend != "postgresql":
        yield
        return
    nodes_t, regions_t, users_t, assign_t = (Node.__table__, NodeRegion.__table__, User.__table__,
                                             Assignment.__table__)
    engine = database.engine(app)
    with engine.connect() as connection:
        nodes = [dict(row._mapping) for row in connection.execute(select(nodes_t))]
        served = [dict(row._mapping) for row in connection.execute(select(regions_t))]
        users = [dict(row._mapping) for row in connection.execute(select(users_t))]
        assignments = [dict(row._mapping) for row in connection.execute(select(assign_t))]
    yield
    with engine.begin() as connection:
        connection.execute(delete(AccessNotice.__table__))  # they name accounts the test may have added
        connection.execute(delete(AccessGrant.__table__))
        connection.execute(delete(AccountToken.__table__))
        sessions_t = UserSession.__table__
        connection.execute(delete(sessions_t).where(sessions_t.c.user_id.not_in([u["id"] for u in users])))
        connection.execute(delete(users_t).where(users_t.c.id.not_in([u["id"] for u in users])))
        for user in users:
            connection.execute(update(users_t).where(users_t.c.id == user["id"]).values(**user))
        connection.execute(delete(assign_t))
        connection.execute(insert(assign_t), assignments)
        connection.execute(delete(regions_t))
        connection.execute(insert(regions_t), served)
        old = [n["id"] for n in nodes]
        connection.execute(delete(NodeKey.__table__).where(NodeKey.__table__.c.node_id.not_in(old)))
        connection.execute(delete(nodes_t).where(nodes_t.c.id.not_in(old)))
        for node in nodes:
            connection.execute(update(nodes_t).where(nodes_t.c.id == node["id"]).values(**node))

