"""Access to the reviewed clinical data files that ship inside the package.

Clinical tables (regions, findings, evidence weights, instruments) are TOML files in
``hipspine/clinical/data``. Each entry carries its citation. They are package resources,
read once and cached, so the core stays free of any other I/O.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any


@cache
def load(name: str) -> dict[str, Any]:
    """Return the parsed contents of ``data/<name>.toml`` (``name`` may contain ``/``)."""
    resource = resources.files("hipspine.clinical") / "data"
    for part in f"{name}.toml".split("/"):
        resource = resource / part
    with resource.open("rb") as handle:
        return tomllib.load(handle)
