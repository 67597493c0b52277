"""The clinician's pages: sign-in, patients, intake, findings, assessment, plan, visits.

Every page reads and writes through :class:`~hipspine.store.records.Records` (authorised,
audited) and shows what the clinical core computed: the assessment engine's result, the
trajectory and its summaries, the schedule. Forms are validated with the same rules as
the JSON API; a refused form is shown again with each error next to its field.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from hipspine.clinical.assessment import assess, to_dict
from hipspine.clinical.case import CaseError, condition_ids, parse_case
from hipspine.clinical.mmt import MRC_GRADES
from hipspine.clinical.vocabulary import (
    SPINAL_LEVELS,
    Finding,
    Kind,
    Stage,
    findings,
    muscles,
)
from hipspine.store.models import (
    Encounter,
    Episode,
    FunctionTest,
    Goal,
    Guidance,
    Medication,
    PainRating,
    Patient,
    Procedure,
    ProcedureType,
    StoredAssessment,
    StrengthTest,
    TherapyRegimen,
    TokenKind,
    User,
)
from hipspine.web import auth
from hipspine.web.api.clinical import (
    TARGET_SITES,
    GoalIn,
    MedicationIn,
    ProcedureIn,
    TherapyRegimenIn,
)
from hipspine.web.api.patients import PatientIn
from hipspine.web.api.questionnaires import PortalLinkIn, new_link, portal_url
from hipspine.web.deps import WebDep, client_address
from hipspine.web.pages import bodymap
from hipspine.web.pages._common import (
    TEMPLATES,
    Page,
    form_text,
    today,
)
from hipspine.web.pages.dashboard import patient_reference
from hipspine.web.problems import ProblemError

router = APIRouter(include_in_schema=False)
Form_ = Annotated[str | None, Form()]

PROCEDURE_LABELS = {
    "corticosteroid": "Corticosteroid injection",
    "prp": "Platelet-rich plasma (PRP)",
    "bone_marrow_concentrate": "Bone marrow concentrate",
    "adipose_derived_cells": "Adipose-derived cells",
    "prolotherapy": "Prolotherapy",
    "other": "Other",
}
STAGE_PAGES = {
    "history": ("History and red flags", (Stage.HISTORY,)),
    "exam": ("Examination", (Stage.EXAM,)),
    "imaging": ("Labs and imaging", (Stage.LABS, Stage.IMAGING)),
    "block": ("Diagnostic blocks", (Stage.BLOCK,)),
}
GROUP_LABELS = {
    "symptoms": "Symptoms",
    "red_flags": "Red-flag history",
    "neurological": "Neurological",
    "gait": "Gait",
    "posture": "Posture",
    "hip_range_of_motion": "Hip range of motion",
    "hip_exam": "Hip examination",
    "lumbar_exam": "Lumbar examination",
    "sacroiliac_exam": "Sacroiliac examination",
    "labs": "Laboratory",
    "imaging": "Imaging (ultrasound, radiograph, MRI)",
    "spinopelvic": "Spinopelvic parameters (radiograph)",
    "diagnostic_blocks": "Diagnostic blocks",
}
EXERCISE_IDEAS = (
    "Glute bridge", "Prone hip extension", "Supine marching (hip flexion, neutral spine)",
    "Standing hip flexion with band", "Side-lying hip abduction", "Clamshell",
    "Dead bug", "Bird dog", "Side plank", "Hip adductor squeeze", "Hamstring bridge walk-out",
    "Sit-to-stand", "Step-up", "Walking programme",
)  # fmt: skip


def _errors(error: ValidationError, prefix: str = "") -> dict[str, str]:
    out = {}
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        out[prefix + where] = str(item["msg"]).removeprefix("Value error, ")
    return out


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _form_dict(form: Any) -> dict[str, str]:
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


# -- sign-in ------------------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/patients"
    return value


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str | None = None) -> Response:
    return TEMPLATES.TemplateResponse(
        request, "sign_in.html", {"next": _safe_next(next), "error": None, "email": ""}
    )


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in_submit(
    request: Request,
    web: WebDep,
    email: Form_ = None,
    password: Form_ = None,
    next: Form_ = None,
) -> Response:
    target = _safe_next(next)
    if not email or not password:
        return TEMPLATES.TemplateResponse(
            request,
            "sign_in.html",
            {"next": target, "error": "Enter your e-mail address and password.", "email": email},
            status_code=422,
        )
    try:
        user_id = auth.authenticate(web, email, password, client_address(request))
    except ProblemError as error:
        return TEMPLATES.TemplateResponse(
            request,
            "sign_in.html",
            {"next": target, "error": error.detail, "email": email},
            status_code=error.status,
            headers=error.headers,
        )
    with web.db.transaction() as session:
        user = session.get(User, user_id)
        assert user is not None
        _, raw = auth.issue(session, user, TokenKind.SESSION, web.options.session_ttl)
    response = _see_other(target)
    auth.set_session_cookies(response, web, raw)
    return response


@router.post("/sign-out")
def sign_out(page: Page) -> Response:
    raw = auth.unsign_cookie(
        page.web.settings.secret_key, page.request.cookies.get(auth.SESSION_COOKIE, "")
    )
    if raw:
        sign_in = auth.resolve(page.session, raw, TokenKind.SESSION, via_cookie=True)
        auth.revoke(page.session, page.session.merge(sign_in.token))
    response = _see_other("/sign-in")
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    response.delete_cookie(auth.CSRF_COOKIE)
    return response


@router.get("/")
def home() -> Response:
    return _see_other("/patients")


# -- patient list -------------------------------------------------------------------------


@router.get("/patients", response_class=HTMLResponse)
def patient_list(
    page: Page,
    search: Annotated[str | None, Query(max_length=100)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    attention_only: Annotated[bool, Query(alias="attention")] = False,
) -> Response:
    from hipspine.reports.progress import SeriesError, attention, clinic_files, progress

    clean = (search or "").replace("%", "").replace("_", " ").strip() or None
    listing = page.records.patients(offset=offset, limit=25, search=clean)
    files = clinic_files(page.records, listing.items)
    day = today()
    rows = []
    for patient in listing.items:
        file = files.get(patient.id)
        if file is None:
            continue
        try:
            found = progress(file, day)
        except SeriesError:
            found = None
        items = attention(file, day, found)
        if attention_only and not items:
            continue
        latest = file.latest_assessment
        rows.append(
            {
                "patient": patient,
                "attention": items,
                "conclusion": (latest.result.get("conclusion") or {}).get("label")
                if latest
                else None,
                "last_visit": file.encounters[-1].occurred_on if file.encounters else None,
            }
        )
    return page.render(
        "patients.html",
        rows=rows,
        search=search or "",
        total=listing.total,
        offset=offset,
        limit=25,
        attention_only=attention_only,
    )


# -- intake -------------------------------------------------------------------------------


def _intake_values(form: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "form": form or {},
        "conditions": condition_ids(),
        "map_shapes": bodymap.shapes(),
        "map_rows": bodymap.rows(),
        "silhouette": bodymap.SILHOUETTE,
        "today": today().isoformat(),
    }


@router.get("/patients/new", response_class=HTMLResponse)
def intake_page(page: Page) -> Response:
    return page.render("intake.html", errors={}, **_intake_values())


def _number(form: dict[str, str], name: str, errors: dict[str, str]) -> float | None:
    raw = form_text(form, name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        errors[name] = "must be a number"
        return None


def _date_field(form: dict[str, str], name: str, errors: dict[str, str]) -> dt.date | None:
    raw = form_text(form, name)
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors[name] = "must be a date (YYYY-MM-DD)"
        return None


@router.post("/patients/new", response_class=HTMLResponse)
async def intake_submit(page: Page) -> Response:
    form = _form_dict(await page.request.form())
    errors: dict[str, str] = {}
    visit = _date_field(form, "visit_date", errors) or today()
    try:
        person = PatientIn(
            name=form_text(form, "name") or "",
            identifier=form_text(form, "identifier"),
            birth_date=form_text(form, "birth_date"),
            sex=form_text(form, "sex") or "unknown",
            email=form_text(form, "email"),
        )
    except ValidationError as error:
        errors.update(_errors(error))
        person = None
    age = None
    if person is not None and person.birth_date is not None:
        b = person.birth_date
        age = visit.year - b.year - ((visit.month, visit.day) < (b.month, b.day))
    pain, pain_errors = bodymap.read(form)
    if pain_errors:
        errors["pain_map"] = "; ".join(pain_errors)
    diagnoses = []
    for i in range(3):
        condition = form_text(form, f"dx.{i}.condition")
        if condition is None:
            continue
        entry: dict[str, Any] = {"condition": condition}
        if side := form_text(form, f"dx.{i}.side"):
            entry["side"] = side
        if since := _date_field(form, f"dx.{i}.since", errors):
            entry["since"] = since.isoformat()
        diagnoses.append(entry)
    medications = []
    for i in range(3):
        name = form_text(form, f"med.{i}.name")
        if name is None:
            continue
        try:
            med = MedicationIn(
                name=name,
                dose=form_text(form, f"med.{i}.dose"),
                pattern=form_text(form, f"med.{i}.pattern") or "as_needed",
                days_per_week=form_text(form, f"med.{i}.days_per_week"),
                indication=form_text(form, f"med.{i}.indication"),
                started_on=form_text(form, f"med.{i}.since"),
            )
            medications.append(med)
        except ValidationError as error:
            errors.update(_errors(error, f"med.{i}."))
    goals = []
    for i in range(2):
        description = form_text(form, f"goal.{i}.description")
        if description is None:
            continue
        try:
            goals.append(
                GoalIn(
                    description=description,
                    target_date=form_text(form, f"goal.{i}.target_date"),
                    psfs_activity=form_text(form, f"goal.{i}.activity"),
                )
            )
        except ValidationError as error:
            errors.update(_errors(error, f"goal.{i}."))
    case: dict[str, Any] = {
        "format": "hipspine.case/1",
        "patient": {
            k: v
            for k, v in {
                "age": age,
                "sex": person.sex if person else "unknown",
                "height_cm": _number(form, "height_cm", errors),
                "weight_kg": _number(form, "weight_kg", errors),
            }.items()
            if v is not None
        },
        "visit_date": visit.isoformat(),
        "complaint": {
            k: v
            for k, v in {
                "side": form_text(form, "complaint_side"),
                "onset": form_text(form, "onset"),
                "description": form_text(form, "complaint"),
            }.items()
            if v
        },
        "diagnoses": diagnoses,
        "medications": [
            {
                k: v
                for k, v in {
                    "name": m.name,
                    "dose": m.dose,
                    "pattern": m.pattern.value,
                    "days_per_week": m.days_per_week,
                    "indication": m.indication,
                    "since": m.started_on.isoformat() if m.started_on else None,
                }.items()
                if v is not None
            }
            for m in medications
        ],
        "pain_map": pain if form.get("pain_map_drawn") == "yes" or pain else None,
        "goals": [
            {
                "description": g.description,
                **({"target_date": g.target_date.isoformat()} if g.target_date else {}),
            }
            for g in goals
        ],
    }
    if not errors:
        try:
            parse_case(case)
        except CaseError as error:
            for problem in error.problems:
                where, _, message = problem.partition(": ")
                errors[where] = message
    if errors or person is None:
        return page.render("intake.html", status=422, errors=errors, **_intake_values(form))
    records = page.records
    patient = records.add_patient(**person.model_dump())
    episode_id = None
    for dx in diagnoses:
        episode = records.add(
            Episode(
                patient_id=patient.id,
                condition=dx["condition"],
                side=dx.get("side"),
                started_on=visit,
            )
        )
        episode_id = episode_id or episode.id
    encounter = records.add(
        Encounter(
            patient_id=patient.id,
            episode_id=episode_id,
            kind="intake",
            occurred_on=visit,
            clinician_id=page.user.id,
            case=case,
            note="Baseline (first visit)",
        )
    )
    for med in medications:
        records.add(Medication(patient_id=patient.id, **med.model_dump()))
    for goal in goals:
        records.add(Goal(patient_id=patient.id, **goal.model_dump(exclude={"ratings"})))
    for entry in pain:
        records.add(
            PainRating(
                patient_id=patient.id,
                encounter_id=encounter.id,
                region=entry["region"],
                side=entry["side"],
                intensity=entry["intensity"],
                rated_on=visit,
            )
        )
    return _see_other(f"/patients/{patient.id}/encounters/{encounter.id}/findings/history")


# -- the patient --------------------------------------------------------------------------


def _file(page: Page, patient_id: str) -> Any:
    from hipspine.reports.progress import read_patient_file

    return read_patient_file(page.records, patient_id)


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(page: Page, patient_id: str) -> Response:
    from hipspine.reports import charts
    from hipspine.reports.progress import SeriesError, attention, progress, schedule_of

    file = _file(page, patient_id)
    day = today()
    problem = None
    try:
        found = progress(file, day)
    except SeriesError as error:
        found, problem = None, str(error)
    svgs: dict[str, str] = {}
    tables: dict[str, list[dict[str, Any]]] = {}
    if found is not None:
        events = charts.events_of(found.trajectory, _therapy_events(file))
        svgs = charts.all_charts(found.trajectory, events)
        tables = {name: rows(found.trajectory) for name, (_, rows) in charts.CHARTS.items()}
    reference = patient_reference(page, file.patient.id, file.patient.name)
    return page.render(
        "patient.html",
        file=file,
        patient=file.patient,
        progress=found,
        series_problem=problem,
        charts=svgs,
        tables=tables,
        attention=attention(file, day, found),
        schedule=schedule_of(file, day),
        latest=file.latest_assessment,
        procedure_labels=PROCEDURE_LABELS,
        muscle_labels={k: m.label for k, m in muscles().items()},
        link=None,
        reference=reference,
    )


def _therapy_events(file: Any) -> tuple[Any, ...]:
    from hipspine.reports.charts import Event

    return tuple(Event(r.started_on, "Therapy") for r in file.regimens)


@router.post("/patients/{patient_id}/portal-links", response_class=HTMLResponse)
async def create_link(page: Page, patient_id: str) -> Response:
    form = await page.request.form()
    chosen = [v for v in form.getlist("instrument") if isinstance(v, str)]
    page.records.check_patient(Patient, patient_id, "create")
    try:
        body = PortalLinkIn(instruments=chosen or ["odi"])
    except ValidationError as error:
        raise ProblemError(422, "; ".join(_errors(error).values())) from None
    _, raw = new_link(page.records, page.web, patient_id, body)
    patient = page.records.patient(patient_id)
    url = str(page.request.base_url).rstrip("/") + portal_url(raw)
    return page.render("link.html", patient=patient, url=url, instruments=body.instruments)


@router.get("/patients/{patient_id}/report.pdf")
def report_pdf(page: Page, patient_id: str) -> Response:
    from hipspine.reports.pdf import progress_report

    file = _file(page, patient_id)
    pdf = progress_report(file, today())
    name = (file.patient.identifier or "patient").replace('"', "")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="progress-{name}.pdf"'},
    )


# -- findings -----------------------------------------------------------------------------


def _finding_rows(stages: tuple[Stage, ...]) -> list[tuple[str, list[Finding]]]:
    groups: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings().values():
        if finding.stage in stages:
            groups[finding.group].append(finding)
    return [(GROUP_LABELS.get(g, g.replace("_", " ").capitalize()), f) for g, f in groups.items()]


def _sides_for(finding: Finding) -> tuple[str | None, ...]:
    return ("right", "left") if finding.lateral else (None,)


def _levels_for(finding: Finding) -> tuple[str | None, ...]:
    return SPINAL_LEVELS if finding.level else (None,)


def _key(finding: str, side: str | None, level: str | None) -> str:
    return f"{finding}.{side or '-'}.{level or '-'}"


def _existing(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for obs in case.get("findings", []):
        side = obs.get("side")
        if obs.get("level"):
            # Level findings are keyed by level only; the side is chosen in the row.
            out[_key(obs["finding"], "*", obs["level"])] = obs
        else:
            out[_key(obs["finding"], side, None)] = obs
    return out


def _observations(
    form: dict[str, str], stages: tuple[Stage, ...], existing: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, str], set[str]]:
    """Observations from the findings form; errors by field; the keys the form covers."""
    out: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    covered: set[str] = set()
    for finding in findings().values():
        if finding.stage not in stages:
            continue
        for level in _levels_for(finding):
            sides: tuple[str | None, ...] = ("*",) if level else _sides_for(finding)
            for side in sides:
                key = _key(finding.id, side, level)
                covered.add(key)
                result = form_text(form, f"{key}.result")
                value = form_text(form, f"{key}.value")
                if (result in (None, "unknown")) and value is None:
                    continue
                obs: dict[str, Any] = {"finding": finding.id}
                chosen_side = form_text(form, f"{key}.side") if level else side
                if finding.lateral:
                    obs["side"] = chosen_side or "bilateral"
                if level:
                    obs["level"] = level
                if result and result != "unknown":
                    obs["result"] = result
                if value is not None:
                    try:
                        obs["value"] = float(value)
                    except ValueError:
                        errors[f"{key}.value"] = "must be a number"
                        continue
                    if finding.kind is Kind.COUNT:
                        of = form_text(form, f"{key}.of")
                        if of is None or not of.isdigit():
                            errors[f"{key}.of"] = "give the number of tests performed"
                            continue
                        obs["of"] = int(of)
                previous = existing.get(key)
                if previous is not None:
                    for extra in ("location", "roots", "angle", "stage", "note"):
                        if extra in previous:
                            obs[extra] = previous[extra]
                out.append(obs)
    return out, errors, covered


def _strength_rows() -> list[tuple[str, str, tuple[str | None, ...]]]:
    return [
        (m.id, m.label, ("right", "left") if m.lateral else (None,)) for m in muscles().values()
    ]


@router.get(
    "/patients/{patient_id}/encounters/{encounter_id}/findings/{stage}",
    response_class=HTMLResponse,
)
def findings_page(page: Page, patient_id: str, encounter_id: str, stage: str) -> Response:
    if stage not in STAGE_PAGES:
        raise ProblemError(404, "No such form.")
    encounter = page.records.get_of(Encounter, patient_id, encounter_id)
    return _render_findings(page, patient_id, encounter, stage, encounter.case or {}, {}, {})


def _render_findings(
    page: Page,
    patient_id: str,
    encounter: Encounter,
    stage: str,
    case: dict[str, Any],
    form: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    title, stages = STAGE_PAGES[stage]
    existing = _existing(case)
    values: dict[str, str] = {}
    for key, obs in existing.items():
        values[f"{key}.result"] = obs.get("result") or ""
        if obs.get("value") is not None:
            values[f"{key}.value"] = f"{obs['value']:g}"
        if obs.get("of") is not None:
            values[f"{key}.of"] = str(obs["of"])
        if obs.get("level"):
            values[f"{key}.side"] = obs.get("side") or "bilateral"
    for test in case.get("strength", []):
        values[f"mmt.{test['muscle']}.{test.get('side') or '-'}"] = test["mrc"]
    values.update(form)
    return page.render(
        "findings.html",
        status=status,
        patient=page.records.patient(patient_id),
        encounter=encounter,
        stage=stage,
        title=title,
        stage_pages=STAGE_PAGES,
        groups=_finding_rows(stages),
        values=values,
        errors=errors,
        Kind=Kind,
        sides_for=_sides_for,
        levels_for=_levels_for,
        key=_key,
        strength=_strength_rows() if Stage.EXAM in stages else [],
        grades=MRC_GRADES,
    )


@router.post(
    "/patients/{patient_id}/encounters/{encounter_id}/findings/{stage}",
    response_class=HTMLResponse,
)
async def findings_submit(page: Page, patient_id: str, encounter_id: str, stage: str) -> Response:
    if stage not in STAGE_PAGES:
        raise ProblemError(404, "No such form.")
    form = _form_dict(await page.request.form())
    encounter = page.records.get_of(Encounter, patient_id, encounter_id)
    case = dict(encounter.case or {"format": "hipspine.case/1"})
    _, stages = STAGE_PAGES[stage]
    existing = _existing(case)
    observations, errors, covered = _observations(form, stages, existing)
    kept = [
        obs
        for obs in case.get("findings", [])
        if _key(obs["finding"], "*" if obs.get("level") else obs.get("side"), obs.get("level"))
        not in covered
    ]
    case["findings"] = kept + observations
    if Stage.EXAM in stages:
        strength = []
        tested_here = set()
        for muscle, _, sides in _strength_rows():
            for side in sides:
                tested_here.add((muscle, side))
                grade = form_text(form, f"mmt.{muscle}.{side or '-'}")
                if grade:
                    strength.append(
                        {"muscle": muscle, "mrc": grade, **({"side": side} if side else {})}
                    )
        case["strength"] = [
            t for t in case.get("strength", []) if (t["muscle"], t.get("side")) not in tested_here
        ] + strength
    if not errors:
        try:
            parse_case(case)
        except CaseError as error:
            for problem in error.problems:
                where, _, message = problem.partition(": ")
                errors[where] = message
    if errors:
        return _render_findings(
            page, patient_id, encounter, stage, encounter.case or {}, form, errors, status=422
        )
    page.records.update_of(
        Encounter,
        patient_id,
        encounter_id,
        int(form.get("version", encounter.version)),
        {"case": case},
    )
    if form.get("then") == "assess":
        stored = _assess(page, patient_id, encounter)
        return _see_other(f"/patients/{patient_id}/assessments/{stored.id}")
    order = list(STAGE_PAGES)
    following = order[order.index(stage) + 1] if stage != order[-1] else None
    if following and form.get("then") == "next":
        return _see_other(f"/patients/{patient_id}/encounters/{encounter_id}/findings/{following}")
    return _see_other(f"/patients/{patient_id}/encounters/{encounter_id}/findings/{stage}?saved=1")


def _assess(page: Page, patient_id: str, encounter: Encounter) -> StoredAssessment:
    result = to_dict(assess(parse_case(encounter.case)))
    return page.records.add(
        StoredAssessment(
            patient_id=patient_id,
            encounter_id=encounter.id,
            engine_version=result["engine_version"],
            category=result["conclusion"]["category"],
            result=result,
        )
    )


@router.post("/patients/{patient_id}/encounters/{encounter_id}/assess")
def assess_encounter(page: Page, patient_id: str, encounter_id: str) -> Response:
    encounter = page.records.get_of(Encounter, patient_id, encounter_id)
    if not encounter.case:
        raise ProblemError(422, "This encounter has no case to assess.")
    stored = _assess(page, patient_id, encounter)
    return _see_other(f"/patients/{patient_id}/assessments/{stored.id}")


@router.get("/patients/{patient_id}/assessments/{assessment_id}", response_class=HTMLResponse)
def assessment_page(page: Page, patient_id: str, assessment_id: str) -> Response:
    stored = page.records.get_of(StoredAssessment, patient_id, assessment_id)
    if not (stored.result or {}).get("conclusion"):
        raise ProblemError(422, "This assessment was stored without the engine's result.")
    return page.render(
        "assessment.html",
        patient=page.records.patient(patient_id),
        stored=stored,
        a=stored.result,
        finding_labels={k: f.label for k, f in findings().items()},
    )


# -- plan ---------------------------------------------------------------------------------


def _targets_from_assessment(stored: StoredAssessment | None) -> list[str]:
    if stored is None:
        return []
    by_label = {m.label: m.id for m in muscles().values()}
    wanted = stored.result.get("biomechanics", {}).get("muscles_to_target", [])
    return [by_label[label] for label in wanted if label in by_label]


def _plan_values(page: Page, patient_id: str) -> dict[str, Any]:
    file = _file(page, patient_id)
    return {
        "file": file,
        "patient": file.patient,
        "targets": _targets_from_assessment(file.latest_assessment),
        "muscles": muscles(),
        "procedure_types": [(t.value, PROCEDURE_LABELS[t.value]) for t in ProcedureType],
        "guidances": [g.value for g in Guidance],
        "sites": TARGET_SITES,
        "levels": SPINAL_LEVELS,
        "exercise_ideas": EXERCISE_IDEAS,
        "procedure_labels": PROCEDURE_LABELS,
        "today": today().isoformat(),
    }


@router.get("/patients/{patient_id}/plan", response_class=HTMLResponse)
def plan_page(page: Page, patient_id: str) -> Response:
    return page.render("plan.html", errors={}, form={}, **_plan_values(page, patient_id))


@router.post("/patients/{patient_id}/plan/{what}", response_class=HTMLResponse)
async def plan_submit(page: Page, patient_id: str, what: str) -> Response:
    form = _form_dict(await page.request.form())
    records = page.records
    records.check_patient(Procedure, patient_id, "create")
    errors: dict[str, str] = {}
    try:
        if what == "procedure":
            targets = []
            for i in range(4):
                site = form_text(form, f"target.{i}.site")
                if site:
                    targets.append(
                        {
                            "site": site,
                            "side": form_text(form, f"target.{i}.side"),
                            "level": form_text(form, f"target.{i}.level"),
                        }
                    )
            body = ProcedureIn.model_validate(
                {
                    "type": form_text(form, "type"),
                    "targets": targets,
                    "guidance": form_text(form, "guidance"),
                    "performed_on": form_text(form, "performed_on"),
                    "note": form_text(form, "note"),
                }
            )
            records.add(
                Procedure(
                    patient_id=patient_id,
                    type=body.type.value,
                    targets=[t.model_dump(mode="json", exclude_none=True) for t in body.targets],
                    guidance=body.guidance.value,
                    performed_on=body.performed_on,
                    operator_id=page.user.id,
                    note=body.note,
                )
            )
            records.add(
                Encounter(
                    patient_id=patient_id,
                    kind="procedure",
                    occurred_on=body.performed_on,
                    clinician_id=page.user.id,
                    note="Procedure",
                )
            )
        elif what == "medication":
            med = MedicationIn.model_validate(
                {
                    "name": form_text(form, "name"),
                    "dose": form_text(form, "dose"),
                    "pattern": form_text(form, "pattern"),
                    "days_per_week": form_text(form, "days_per_week"),
                    "indication": form_text(form, "indication"),
                    "started_on": form_text(form, "started_on"),
                }
            )
            records.add(Medication(patient_id=patient_id, **med.model_dump()))
        elif what == "regimen":
            exercises = []
            for i in range(12):
                name = form_text(form, f"ex.{i}.name")
                if not name:
                    continue
                exercises.append(
                    {
                        "name": name,
                        "target_muscles": [
                            v for k, v in form.items() if k.startswith(f"ex.{i}.muscle") and v
                        ],
                        "sets": form_text(form, f"ex.{i}.sets"),
                        "reps": form_text(form, f"ex.{i}.reps"),
                        "per_week": form_text(form, f"ex.{i}.per_week"),
                    }
                )
            regimen = TherapyRegimenIn.model_validate(
                {"started_on": form_text(form, "started_on"), "exercises": exercises}
            )
            records.add(
                TherapyRegimen(
                    patient_id=patient_id,
                    started_on=regimen.started_on,
                    exercises=[
                        e.model_dump(mode="json", exclude_none=True) for e in regimen.exercises
                    ],
                )
            )
        elif what == "goal":
            goal = GoalIn.model_validate(
                {
                    "description": form_text(form, "description"),
                    "target_date": form_text(form, "target_date"),
                    "psfs_activity": form_text(form, "psfs_activity"),
                }
            )
            records.add(Goal(patient_id=patient_id, **goal.model_dump(exclude={"ratings"})))
        else:
            raise ProblemError(404, "No such part of the plan.")
    except ValidationError as error:
        errors = _errors(error, f"{what}.")
    if errors:
        return page.render(
            "plan.html",
            status=422,
            errors=errors,
            form=form,
            failed=what,
            **_plan_values(page, patient_id),
        )
    return _see_other(f"/patients/{patient_id}/plan?saved={what}")


# -- follow-up visit ----------------------------------------------------------------------


def _visit_values(page: Page, patient_id: str) -> dict[str, Any]:
    file = _file(page, patient_id)
    rated = sorted({(p.region, p.side) for p in file.pain})
    tested_set = {(s.muscle, s.side or "") for s in file.strength if s.mrc}
    for encounter in file.encounters:
        for test in (encounter.case or {}).get("strength", []):
            tested_set.add((test["muscle"], test.get("side") or ""))
    tested = sorted(tested_set)
    return {
        "file": file,
        "patient": file.patient,
        "rated": rated,
        "tested": tested,
        "muscle_labels": {k: m.label for k, m in muscles().items()},
        "region_labels": {r.region: r.label for r in bodymap.rows()},
        "grades": MRC_GRADES,
        "today": today().isoformat(),
        "map_shapes": bodymap.shapes(),
        "map_rows": bodymap.rows(),
        "silhouette": bodymap.SILHOUETTE,
    }


@router.get("/patients/{patient_id}/visits/new", response_class=HTMLResponse)
def visit_page(page: Page, patient_id: str) -> Response:
    values = _visit_values(page, patient_id)
    prefill = {f"pain.{r}.{s}": "" for r, s in values["rated"]}
    return page.render("visit.html", errors={}, form=prefill, **values)


@router.post("/patients/{patient_id}/visits/new", response_class=HTMLResponse)
async def visit_submit(page: Page, patient_id: str) -> Response:
    form = _form_dict(await page.request.form())
    errors: dict[str, str] = {}
    day = _date_field(form, "date", errors)
    if day is None and "date" not in errors:
        errors["date"] = "give the date of the visit"
    if day is not None and day > today():
        errors["date"] = "a visit cannot be in the future"
    pain, pain_errors = bodymap.read(form)
    if pain_errors:
        errors["pain_map"] = "; ".join(pain_errors)
    function: dict[str, float] = {}
    for test, (low, high) in {
        "six_minute_walk": (0, 1500),
        "chair_stand_30s": (0, 60),
        "gait_speed": (0, 5),
    }.items():
        value = _number(form, f"function.{test}", errors)
        if value is not None:
            if not low <= value <= high:
                errors[f"function.{test}"] = f"must be between {low} and {high}"
            else:
                function[test] = value
    grades = {k: v for k, v in form.items() if k.startswith("mmt.") and v}
    if errors or day is None:
        return page.render(
            "visit.html", status=422, errors=errors, form=form, **_visit_values(page, patient_id)
        )
    records = page.records
    encounter = records.add(
        Encounter(
            patient_id=patient_id,
            kind="follow_up",
            occurred_on=day,
            clinician_id=page.user.id,
            note=form_text(form, "label"),
        )
    )
    for entry in pain:
        records.add(
            PainRating(
                patient_id=patient_id,
                encounter_id=encounter.id,
                region=entry["region"],
                side=entry["side"],
                intensity=entry["intensity"],
                rated_on=day,
            )
        )
    for key, grade in grades.items():
        _, muscle, side = key.split(".", 2)
        side = "" if side == "-" else side
        records.add(
            StrengthTest(
                patient_id=patient_id,
                encounter_id=encounter.id,
                muscle=muscle,
                side=side or None,
                mrc=grade,
                tested_on=day,
            )
        )
    units = {"six_minute_walk": "m", "chair_stand_30s": "stands", "gait_speed": "m/s"}
    for test, value in function.items():
        records.add(
            FunctionTest(
                patient_id=patient_id,
                encounter_id=encounter.id,
                test=test,
                value=value,
                unit=units[test],
                tested_on=day,
            )
        )
    for goal in records.list(Goal, patient_id, limit=50).items:
        level = form_text(form, f"goal.{goal.id}")
        if level is not None and level.lstrip("-").isdigit() and -2 <= int(level) <= 2:
            ratings = [r for r in goal.ratings or [] if r.get("rated_on") != day.isoformat()]
            records.update(
                Goal,
                goal.id,
                goal.version,
                {"ratings": [*ratings, {"rated_on": day.isoformat(), "level": int(level)}]},
            )
    return _see_other(f"/patients/{patient_id}#timeline")
