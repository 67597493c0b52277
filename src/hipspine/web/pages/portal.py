"""The patient portal page: a mobile-first shell that the portal script fills in.

The page carries no patient data: the script reads the link's token from the URL fragment
(never sent to the server in the request line), sends it in ``X-Portal-Token`` to
``/api/portal`` and renders the due questionnaires from the instrument data. Answers are
kept as a draft in the phone's storage until the server confirms them, so nothing is lost
offline; each form carries a ``submission_key`` so a resend never stores a duplicate.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from hipspine.web.pages import bodymap
from hipspine.web.pages._common import TEMPLATES

router = APIRouter(include_in_schema=False)


@router.get("/portal", response_class=HTMLResponse)
def portal_page(request: Request) -> Response:
    return TEMPLATES.TemplateResponse(
        request,
        "portal.html",
        {
            "map_shapes": bodymap.shapes(),
            "map_rows": bodymap.rows(),
            "silhouette": bodymap.SILHOUETTE,
        },
    )
