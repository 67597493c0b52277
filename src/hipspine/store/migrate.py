"""Schema migrations (Alembic), run from code: ``hipspine db upgrade`` or at start-up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, make_url
from sqlalchemy.exc import InterfaceError, OperationalError

from hipspine.store.db import Database

SCRIPTS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


@contextmanager
def migrating(db: Database) -> Iterator[Connection]:
    """A connection in one transaction, for migrations.

    SQLite alters a table by copying it and dropping the old one, and dropping a table
    that other rows refer to would fail or cascade (deleting, say, every sign-in token with
    its user table). So on SQLite foreign keys are not enforced while migrating (the pragma
    only takes effect outside a transaction) and are checked, all of them, before commit.
    """
    with db.engine.connect() as connection:
        raw = connection.connection.driver_connection if db.is_sqlite else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                if raw is not None:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(
                            f"migration left rows without their parent: {broken[:5]}"
                        )
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def step(connection: Connection, revision: str, *, down: bool = False) -> None:
    """Migrate to ``revision`` (up, or down with ``down``) on a connection of
    :func:`migrating`."""
    config = _config()
    config.attributes["connection"] = connection
    if down:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (default: the latest)."""
    with migrating(db) as connection:
        step(connection, revision)


def downgrade(db: Database, revision: str = "base") -> None:
    """Take the schema down to ``revision`` (default: empty)."""
    with migrating(db) as connection:
        step(connection, revision, down=True)


def current(db: Database) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    """The latest revision shipped with this version of hipspine."""
    return str(ScriptDirectory.from_config(_config()).get_current_head())


def autogenerate(db: Database, message: str) -> None:
    """Write a new revision from the difference between the models and ``db`` (developers)."""
    config = _config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def open_database(url: str | None = None, *, existing: bool = False) -> Database:
    """The configured database (or ``url``), with its schema brought up to date.

    With ``existing`` (commands that read or add to a clinic's records), a SQLite database
    that is not there is not created: a mistyped ``HIPSPINE_DATA_DIR`` is named, instead of
    leaving an empty database behind.
    """
    if url is None:
        from hipspine.config import database_url, load_settings

        # Only a command that may create the database sets up the data folder and its key.
        url = database_url() if existing else load_settings().database_url
    parsed = make_url(url)
    path = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if existing and path and path != ":memory:" and not Path(path).exists():
        raise DatabaseUnavailable(
            f"no database at {path}: check HIPSPINE_DATA_DIR (or HIPSPINE_DATABASE_URL), or "
            "create one with `make demo` (or `hipspine demo`) or `hipspine open-clinic`"
        )
    db = Database(url)
    try:
        upgrade(db)
    except (OperationalError, InterfaceError) as error:
        db.dispose()
        # The driver's first line says why (refused, unknown host, bad password) and never
        # holds the password; the URL is not repeated.
        reason = str(error.orig or error).strip().splitlines()[0]
        raise DatabaseUnavailable(f"cannot open the database: {reason}") from None
    return db


class DatabaseUnavailable(RuntimeError):
    """The configured database cannot be reached or opened (the message says why)."""
