"""The web layer: JSON API, sign-in, patient portal (FastAPI).

Use :func:`create_app` to build the application over a database and settings.
"""

from hipspine.web.app import create_app
from hipspine.web.context import WebOptions

__all__ = ["WebOptions", "create_app"]
