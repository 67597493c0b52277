"""Migrations on SQLite and PostgreSQL: up from empty, down to empty, up again, every step
reversible, and the migrated schema exactly what the models describe."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from hipspine.store.db import Database
from hipspine.store.migrate import SCRIPTS, current, downgrade, head, upgrade
from hipspine.store.models import Base


def _tables(db: Database) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def _differences(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "render_as_batch": db.is_sqlite},
        )
        return list(compare_metadata(context, Base.metadata))


def _revisions() -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return [
        r.revision for r in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))
    ]


def test_upgrade_downgrade_upgrade_gives_the_models_schema(database_url):
    db = Database(database_url)
    try:
        assert current(db) is None and _tables(db) == set()
        upgrade(db)
        assert current(db) == head()
        assert _tables(db) == set(Base.metadata.tables)
        assert _differences(db) == []

        downgrade(db)
        assert current(db) is None
        assert _tables(db) == set()

        upgrade(db)
        assert current(db) == head()
        assert _differences(db) == []
    finally:
        db.dispose()


def test_every_revision_steps_up_and_down(database_url):
    """Stairway: each revision upgrades, downgrades to its parent, and upgrades again."""
    db = Database(database_url)
    try:
        revisions = _revisions()
        assert revisions[0] == "0001" and revisions[-1] == head()
        previous = "base"
        for revision in revisions:
            upgrade(db, revision)
            downgrade(db, previous)
            assert current(db) == (None if previous == "base" else previous)
            upgrade(db, revision)
            assert current(db) == revision
            previous = revision
        assert _differences(db) == []
    finally:
        db.dispose()


def test_stepping_down_and_up_again_keeps_every_row(database_url):
    """Migrations that copy a table (SQLite alters tables that way) lose no row, and no
    row referring to the copied table: nothing cascades while a table is being copied."""
    from tests.store.seed import add_non_patient_rows, add_records, make_world, table_rows

    db = Database(database_url)
    try:
        upgrade(db)
        world = make_world(db)
        add_records(db, world.clinician_a, world.john)
        add_non_patient_rows(db, world)
        before = table_rows(db)
        for revision in reversed(_revisions()[3:-1]):  # down to 0004, past every copy
            downgrade(db, revision)
        lasting = _tables(db)  # a table created since goes down with its rows, of course
        upgrade(db)
        after = table_rows(db)
        assert {t: after[t] for t in lasting} == {t: before[t] for t in lasting}
        assert "app_user" in lasting and "clinic" in lasting
    finally:
        db.dispose()
