"""Schema migrations (Alembic), run from code: ``hipspine db upgrade`` or at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from hipspine.store.db import Database

SCRIPTS = Path(__file__).with_name("migrations")


def _config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (default: the latest)."""
    config = _config(db)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(db: Database, revision: str = "base") -> None:
    """Take the schema down to ``revision`` (default: empty)."""
    config = _config(db)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current(db: Database) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    """The latest revision shipped with this version of hipspine."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return str(ScriptDirectory.from_config(config).get_current_head())


def autogenerate(db: Database, message: str) -> None:
    """Write a new revision from the difference between the models and ``db`` (developers)."""
    config = _config(db)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def open_database(url: str | None = None) -> Database:
    """The configured database (or ``url``), with its schema brought up to date."""
    if url is None:
        from hipspine.config import load_settings

        url = load_settings().database_url
    db = Database(url)
    upgrade(db)
    return db
