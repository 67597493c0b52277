"""The clinic dashboard of outcomes, and each patient's pain on the clinic's reference bands.

Both read the signed-in clinician's own clinic's registry and nothing else: the registry is
loaded for ``actor.clinic_id`` only (:func:`clinic_registry`), refused to anyone who is not
clinic staff, and every view is audited as one ``read`` of resource ``registry`` (not one
entry per patient row). The dashboard shows the same body as ``hipspine cohort report``
(:func:`hipspine.reports.cohort.cohort_body`).

Speed: loading a clinic's records into Arrow is the slow part, so the loaded registry is
kept per clinic and reused until the next write. "The next write" is the newest audit
entry that may have changed records (every write is audited in its own transaction, see
:mod:`hipspine.store.records`); reads do not invalidate it. Reports and their rendered
body are kept per cohort filter on top of that.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, cast

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from hipspine.analytics.cohort import CONDITIONS, SIDES, Cohort
from hipspine.analytics.registry import Registry
from hipspine.analytics.report import Report
from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.models import AuditEvent, Role
from hipspine.store.records import AccessRefused, Records
from hipspine.web.pages._common import Page, today

router = APIRouter(include_in_schema=False)

READ_ONLY_ACTIONS = ("read", "list", "export", "verify")
MAX_COHORTS = 24
PAIN_MEASURES = (("nprs:lumbar", "Low back pain"), ("nprs:groin", "Hip / groin pain"))


@dataclass
class _Clinic:
    stamp: tuple[Any, ...]
    registry: Registry
    reports: OrderedDict[Cohort, tuple[Report, str]] = field(default_factory=OrderedDict)
    patients: OrderedDict[str, list[dict[str, Any]]] = field(default_factory=OrderedDict)


_CACHE: dict[tuple[str, str], _Clinic] = {}
_LOCK = threading.Lock()


def _latest_write(records: Records) -> int:
    """The newest audit entry that may have changed records (0 when none)."""
    seq = records.session.execute(
        select(AuditEvent.seq)
        .where(AuditEvent.action.not_in(READ_ONLY_ACTIONS))
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).scalar()
    return int(seq or 0)


class _Through:
    """The page's own transaction, shaped like a :class:`Database` for the loader.

    On SQLite every hipspine transaction takes the single write lock, so the registry is read
    inside the request's own transaction (a second connection would wait for it to end).
    PostgreSQL reads on a connection of its own (the loader streams with a server-side
    cursor, an option that must not stick to the request's connection).
    """

    def __init__(self, session: Session) -> None:
        self.engine = self
        self._session = session

    def connect(self) -> AbstractContextManager[Connection]:
        return nullcontext(self._session.connection())


def _staff_clinic(actor: Actor) -> str:
    if actor.role not in (Role.CLINICIAN.value, Role.ADMIN.value) or not actor.clinic_id:
        raise AccessRefused("registry", None, "read")
    return actor.clinic_id


def _entry(page: Any) -> _Clinic:
    clinic_id = _staff_clinic(page.actor)
    day = today()
    stamp = (_latest_write(page.records), day)
    key = (str(page.web.db.url), clinic_id)
    with _LOCK:
        entry = _CACHE.get(key)
        if entry is None or entry.stamp != stamp:
            from hipspine.analytics.load import load

            source = (
                cast(Database, _Through(page.records.session))
                if page.web.db.is_sqlite
                else page.web.db
            )
            entry = _Clinic(stamp, load(source, clinic_ids=[clinic_id], as_of=day))
            _CACHE[key] = entry
    return entry


def clinic_registry(page: Any) -> Registry:
    """The signed-in clinic's own registry (clinic staff only; audited as one read)."""
    entry = _entry(page)
    page.records.note("read", "registry", record_id=page.actor.clinic_id)
    return entry.registry


def clinic_report(page: Any, cohort: Cohort | None = None) -> tuple[Report, str]:
    """The registry report of the signed-in clinic (one cohort) and its rendered body."""
    from hipspine.analytics.report import registry_report
    from hipspine.reports.cohort import cohort_body

    cohort = cohort or Cohort()
    entry = _entry(page)
    page.records.note("read", "registry", record_id=page.actor.clinic_id)
    with _LOCK:
        found = entry.reports.get(cohort)
        if found is not None:
            entry.reports.move_to_end(cohort)
            return found
    if entry.registry.size and cohort.mask(entry.registry.patients).any():
        report = registry_report(entry.registry, cohort)
    else:
        report = _nobody(entry.registry, cohort)
    body = cohort_body(report.data)
    with _LOCK:
        entry.reports[cohort] = (report, body)
        while len(entry.reports) > MAX_COHORTS:
            entry.reports.popitem(last=False)
    return report, body


def _nobody(registry: Registry, cohort: Cohort) -> Report:
    """The report of an empty cohort: nothing to compute, so nothing is (said as such)."""
    from hipspine.analytics.registry import MEASURES, time_points

    data: dict[str, Any] = {
        "as_of": registry.as_of.isoformat(),
        "cohort": {"filters": cohort.describe(), "patients": 0},
        "time_points": [{"id": t.id, "label": t.label, "day": t.target} for t in time_points()],
        "measures": [{"key": m.key, "label": m.label} for m in MEASURES],
        "statements": [],
    }
    data.update({key: [] for key in ("responders", "trajectories", "time_to_improvement", "bands")})
    return Report(data)


# -- the dashboard ------------------------------------------------------------------------


def _choice(request: Request, name: str) -> tuple[str, ...] | None:
    value = (request.query_params.get(name) or "").strip()
    return (value,) if value else None


def _age(request: Request, name: str, errors: dict[str, str]) -> int | None:
    value = (request.query_params.get(name) or "").strip()
    if not value:
        return None
    try:
        age = int(value)
    except ValueError:
        errors[name] = "Enter the age in whole years."
        return None
    if not 0 <= age <= 120:
        errors[name] = "Age must be between 0 and 120."
        return None
    return age


def _treatments(registry: Registry) -> list[str]:
    return sorted({t for t in registry.patients.column("treatment").to_pylist() if t})


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(page: Page) -> Response:
    from hipspine.reports.charts import treatment_label
    from hipspine.reports.cohort import body_css

    request = page.request
    errors: dict[str, str] = {}
    age_min, age_max = _age(request, "age_min", errors), _age(request, "age_max", errors)
    if age_min is not None and age_max is not None and age_min > age_max:
        errors["age_max"] = "The upper age must not be below the lower age."
    registry = _entry(page).registry
    treatments = _treatments(registry)
    cohort = Cohort()
    try:
        chosen = Cohort(
            condition=_choice(request, "condition"),
            side=_choice(request, "side"),
            treatment=_choice(request, "treatment"),
            age_min=age_min,
            age_max=age_max,
        )
        if chosen.treatment and chosen.treatment[0] not in treatments:
            errors["treatment"] = f"Choose one of: {', '.join(treatments)}."
    except ValueError as error:
        field_name = str(error).split(":", 1)[0]
        errors[field_name] = "Choose one of the listed values."
    else:
        if not errors:
            cohort = chosen
    report, body = clinic_report(page, cohort)
    return page.render(
        "dashboard.html",
        status=422 if errors else 200,
        body=body,
        css=body_css(),
        report=report.data,
        errors=errors,
        values=dict(request.query_params),
        conditions=CONDITIONS,
        sides=SIDES,
        treatments=[(t, treatment_label(t)) for t in treatments],
        filtered=not cohort.is_everyone,
    )


# -- the patient on the clinic's reference bands ------------------------------------------


def patient_reference(page: Any, patient_id: str, name: str) -> list[dict[str, Any]]:
    """Per pain region: the patient's scores on the clinic's recovery reference bands.

    Each entry holds ``measure``, ``label`` and either ``svg`` (the chart), ``latest`` (the
    most recent score placed on a band) or ``too_small`` (why nothing is drawn).
    """
    from hipspine.analytics.bands import MIN_N
    from hipspine.reports import charts

    report, _ = clinic_report(page)
    entry_ = _entry(page)
    with _LOCK:
        if patient_id in entry_.patients:
            return entry_.patients[patient_id]
    ids = entry_.registry.patient_ids
    known = [] if ids is None else ids.to_pylist()
    positions = report.position(known.index(patient_id)) if patient_id in known else []
    out: list[dict[str, Any]] = []
    for measure, label in PAIN_MEASURES:
        bands = charts.band_rows_of(report.data, measure)
        own = [
            {
                "week": round(int(str(p["day"])) / 7, 1),
                "value": p["value"],
                "percentile": p["percentile"],
            }
            for p in positions
            if p["measure"] == measure
        ]
        entry: dict[str, Any] = {"measure": measure, "label": label, "own": own}
        if len(bands) < 2:
            entry["too_small"] = (
                f"The clinic's registry is too small to draw reference bands for "
                f"{label.lower()}: a week needs at least {MIN_N} scores, and fewer than two "
                f"weeks have that many ({report.data['cohort']['patients']} patients so far)."
            )
        else:
            entry["svg"] = charts.svg(
                charts.reference_spec(
                    bands,
                    f"{label} against this clinic's patients",
                    "Pain (NPRS 0–10)",
                    10,
                    own=own or None,
                    who=name,
                )
            )
            placed = [
                p for p in positions if p["measure"] == measure and p["percentile"] is not None
            ]
            if placed:
                last = placed[-1]
                entry["latest"] = {
                    "week": last["week"],
                    "value": last["value"],
                    "percentile": last["percentile"],
                    "n": last["reference_n"],
                }
        out.append(entry)
    with _LOCK:
        entry_.patients[patient_id] = out
        while len(entry_.patients) > 4 * MAX_COHORTS:
            entry_.patients.popitem(last=False)
    return out


__all__ = ["clinic_registry", "clinic_report", "patient_reference", "router"]
