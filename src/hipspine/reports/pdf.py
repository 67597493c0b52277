"""The progress report as a PDF (WeasyPrint), for the patient and the referring doctor.

It shows what the pages show, from the same functions: the plain-language and clinician
summaries (:mod:`hipspine.clinical.summary`), the charts (the same Vega-Lite specs as the
web page, :mod:`hipspine.reports.charts`), the plan, the goal, and the latest assessment.
``report_command`` is ``hipspine report PATIENT``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from hipspine.reports import charts
from hipspine.reports.progress import (
    PatientFile,
    attention,
    procedure_text,
    progress,
)

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _date(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value.day} {value:%B %Y}"


_ENV.filters["date"] = _date
_ENV.filters["long_dates"] = lambda text: re.sub(
    r"\b(\d{4}-\d{2}-\d{2})\b", lambda m: _date(dt.date.fromisoformat(m.group(1))), str(text)
)
_ENV.filters["words"] = lambda v: "" if v is None else str(v).replace("_", " ")


def report_html(file: PatientFile, today: dt.date, clinic: str = "") -> str:
    """The report as HTML (the PDF's source): summary, charts, plan, goals, assessment."""
    found = progress(file, today)
    svgs: dict[str, str] = {}
    if found is not None:
        events = charts.events_of(
            found.trajectory,
            tuple(charts.Event(r.started_on, "Therapy") for r in file.regimens),
        )
        svgs = charts.all_charts(found.trajectory, events)
    template = _ENV.get_template("progress.html")
    return template.render(
        file=file,
        patient=file.patient,
        progress=found,
        charts=svgs,
        attention=attention(file, today, found),
        latest=file.latest_assessment,
        today=today,
        clinic=clinic,
        procedure_text=procedure_text,
    )


def progress_report(file: PatientFile, today: dt.date, clinic: str = "") -> bytes:
    """The progress report as PDF bytes."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf: bytes = HTML(string=report_html(file, today, clinic)).write_pdf()
    return pdf


def report_command(patient: str, out: Path) -> Path:
    """``hipspine report PATIENT``: write the PDF progress report of one patient to ``out``.

    ``PATIENT`` is the patient's id, record number or exact name (it must be unique across
    clinics). The database is the configured one (after ``make demo``, the demo's), its
    schema brought up to date first. The report is read as the clinic's system actor and
    audited as such. Returns the path written; raises ``LookupError`` with a one-line
    reason when there is no database yet, or the patient is not found or ambiguous.
    """
    from sqlalchemy.engine import make_url

    from hipspine.config import database_url
    from hipspine.reports.progress import read_patient_file
    from hipspine.store.audit import Actor
    from hipspine.store.migrate import DatabaseUnavailable, open_database
    from hipspine.store.models import Clinic, Role
    from hipspine.store.records import Records, named_patients, which_patient

    url = database_url()
    parsed = make_url(url)
    try:
        db = open_database(url, existing=True)
    except DatabaseUnavailable as error:
        raise LookupError(str(error)) from None
    try:
        with db.transaction() as session:
            found = named_patients(session, patient)
        if len(found) != 1:
            where = parsed.database if parsed.get_backend_name() == "sqlite" else "the database"
            raise LookupError(f"{which_patient(patient, found)} (in {where})")
        with db.transaction() as session:
            subject = found[0]
            actor = Actor(user_id=None, role=Role.ADMIN.value, clinic_id=subject.clinic_id)
            file = read_patient_file(Records(session, actor), subject.id)
            clinic = session.get(Clinic, subject.clinic_id)
            pdf = progress_report(file, dt.date.today(), clinic.name if clinic else "")
    finally:
        db.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pdf)
    return out
