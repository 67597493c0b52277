"""The ``hipspine`` command line."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="hipspine: hip and low back pain, assessed and followed.")


@app.callback()
def main() -> None:
    """hipspine: is this pain from the hip, the spine, or both, and is the patient better?"""


@app.command()
def version() -> None:
    """Print the hipspine version."""
    from hipspine import __version__

    typer.echo(__version__)
