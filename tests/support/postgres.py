"""A throwaway PostgreSQL server for the test session.

Started once per test run from the Debian PostgreSQL binaries (initdb refuses to run as
root, so it runs as the ``postgres`` user when we are root). Under ``CI=true`` a missing
PostgreSQL is a failure, never a skip: CI must prove both databases work.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BIN_DIRS = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15")]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Fail under CI, skip on a developer machine without the dependency."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: tests that need it must not skip)")
    pytest.skip(reason)


def _bin() -> Path | None:
    for d in BIN_DIRS:
        if (d / "initdb").exists():
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a fresh PostgreSQL server (database ``postgres``)."""
    if url := os.environ.get("HIPSPINE_TEST_POSTGRES_URL"):
        yield url
        return
    bin_dir = _bin()
    if bin_dir is None:
        unavailable("PostgreSQL is not installed (apt-get install postgresql)")
        return
    root = Path(tempfile.mkdtemp(prefix="hipspine-pg-"))
    data, sock, log = root / "data", root / "sock", root / "log"
    sock.mkdir()
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    port = _free_port()
    subprocess.run(
        [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
         "-o", f"-k {sock} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(server_url: str, template: str | None = None) -> str:
    """Create a database on the server (empty, or a copy of ``template``); return its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    plain = server_url.replace("postgresql+psycopg://", "postgresql://")
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    return server_url.rsplit("/", 1)[0] + f"/{name}"
