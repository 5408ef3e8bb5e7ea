"""The Alembic migrations build exactly the schema the models declare, on both databases."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from referral.db import Base, make_engine
from referral.migrate import downgrade, upgrade
from referral.models import import_all

from .backends import both_backends
from .conftest import PG_ADMIN_URL


@pytest.fixture
def empty_url(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> Any:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("postgres_template")  # skips or fails (CI) when PostgreSQL is down
    name = f"referral_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@both_backends
def test_upgrading_an_empty_database_gives_the_models_schema(empty_url: str) -> None:
    import_all()
    engine = make_engine(empty_url)
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       Base.metadata)
    engine.dispose()
    assert differences == []


@both_backends
def test_migrations_go_down_to_nothing_and_up_again(empty_url: str) -> None:
    engine = make_engine(empty_url)
    upgrade(engine)
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert "cases" in inspect(engine).get_table_names()
    engine.dispose()


@both_backends
def test_existing_cases_get_a_random_record_key(app: Any) -> None:
    """Migration d41a7e0c2b55 (issue 13): cases filed before record keys existed each get one."""
    from sqlalchemy import select

    from referral.extensions import database
    from referral.stats.disclosure import KEY_SPACE
    from referral.stats.models import CaseStat

    from .steps import file_case

    for _ in range(5):
        file_case(app)
    engine = database.engine(app)
    downgrade(engine, "c7f1159f1b0e")
    assert "record_key" not in {c["name"] for c in inspect(engine).get_columns("case_stats")}
    upgrade(engine)
    with engine.connect() as connection:
        keys = connection.scalars(select(CaseStat.record_key)).all()
    assert len(keys) == 5 and len(set(keys)) == 5 and all(0 <= key < KEY_SPACE for key in keys)


def _workflows_before_ficha_v2(tmp_path: Any) -> Any:
    """The Chilean protocol as it was before the Ficha's version 2 (issue 15): forms at version 1 only,
    and without the definition keys that read version 2's fields."""
    import shutil
    from pathlib import Path

    from referral.workflow.definition import read_workflow

    from .definitions import write_single

    root = tmp_path / "workflows_v1"
    shutil.copytree(Path(__file__).resolve().parents[1] / "workflows" / "chile", root / "chile")
    forms = root / "chile" / "forms"
    for newer in ("ficha.v2.yaml", "decision_activacion.v2.yaml"):
        (forms / newer).unlink()
    raw = read_workflow(root / "chile")[0]
    raw["intake"].pop("region_fallback")
    raw["transitions"]["activar"]["effects"] = [e for e in raw["transitions"]["activar"]["effects"]
                                                if e["add_participant"]["relation"] != "servicio_consular"]
    raw["statistics"]["dimensions"]["tipo_trata"].pop("prefer")
    raw["statistics"]["dimensions"].pop("lugar_deteccion")
    write_single(root / "chile", raw)
    return root


@both_backends
def test_cases_filed_under_the_version_1_ficha_open_after_the_upgrade(
        app: Any, database_url: str, tmp_path: Any, clock: Any) -> None:
    """Issue 15: a database with cases filed and activated under Ficha v1 is upgraded to the head revision
    and served by the current definition: the cases open, read with version 1, and count as before."""
    from sqlalchemy import select

    from referral import create_app
    from referral.kernel.models import Case, FormRecord
    from referral.demo.network import DEMO_PASSWORD
    from referral.extensions import database
    from referral.stats.models import CaseStat

    from .browser import Browser
    from .conftest import _settings
    from .factories import ficha_post
    from .steps import activate
    from .test_protocol_path import reference_of

    old = create_app({**_settings(tmp_path / "old", database_url, clock),
                      "WORKFLOWS_DIR": str(_workflows_before_ficha_v2(tmp_path))})
    filer = Browser(old, DEMO_PASSWORD)
    filer.login("salud.rm")
    v1_post = {k: v for k, v in ficha_post().items() if k not in ("lugar_deteccion", "funcionario_contacto")}
    detected = reference_of(filer.submit("/fichas/nueva", v1_post))
    activated = reference_of(filer.submit("/fichas/nueva", {**v1_post, "tipo_trata": "laboral"}))
    activate(old, activated)
    database.engine(old).dispose()

    engine = database.engine(app)
    downgrade(engine, "5b9d2e7c4a10")  # the revision before the head this work branched from
    upgrade(engine)

    reader = Browser(app, DEMO_PASSWORD)
    reader.login("salud.rm")
    for reference in (detected, activated):
        page = reader.get(f"/casos/{reference}")
        assert page.status_code == 200, reference
        ficha = reader.get(f"/casos/{reference}/formularios/ficha")
        assert ficha.status_code == 200 and "versión del formulario 1" in ficha.text
        assert "Estación Central" in ficha.text
    assert "Explotación laboral" in reader.get(f"/casos/{activated}/formularios/ficha").text
    new = reference_of(reader.submit("/fichas/nueva", ficha_post()))
    with engine.connect() as connection:
        versions = dict(connection.execute(select(Case.reference, FormRecord.form_version)
                                           .join(FormRecord, FormRecord.case_id == Case.id)
                                           .where(FormRecord.form_key == "ficha")).all())
        counted = dict(connection.execute(select(Case.reference, CaseStat.attributes)
                                          .join(CaseStat, CaseStat.case_id == Case.id)).all())
    assert versions == {detected: 1, activated: 1, new: 2}
    assert counted[activated]["tipo_trata"] == "laboral"  # a v1 activation has no qualification: the Ficha counts
