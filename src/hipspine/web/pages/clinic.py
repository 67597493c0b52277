"""The clinician's pages: sign-in, patients, intake, findings, assessment, plan, visits.

Every page reads and writes through :class:`~hipspine.store.records.Records` (authorised,
audited) and shows what the clinical core computed: the assessment engine's result, the
trajectory and its summaries, the schedule. Forms are validated with the same rules as
the JSON API; a refused form is shown again with each error next to its field.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from hipspine.clinical._data import load
from hipspine.clinical.assessment import assess, to_dict
from hipspine.clinical.case import CaseError, condition_ids, parse_case
from hipspine.clinical.mmt import MRC_GRADES
from hipspine.clinical.red_flags import flag_rules
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
    QuestionnaireResponse,
    RedFlagAcknowledgement,
    StoredAssessment,
    StrengthTest,
    TherapyRegimen,
    TokenKind,
    User,
)
from hipspine.store.records import AccessRefused
from hipspine.web import auth
from hipspine.web.api.clinical import (
    FUNCTION_UNITS,
    TARGET_SITES,
    GoalIn,
    MedicationIn,
    ProcedureIn,
    TherapyRegimenIn,
    function_limits,
    function_value_problem,
)
from hipspine.web.api.common import UUID_PATTERN, Offset
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
PLAN_PARTS: dict[str, type[Any]] = {
    "procedure": Procedure,
    "medication": Medication,
    "regimen": TherapyRegimen,
    "goal": Goal,
}
VISIT_INSTRUMENTS = ("odi", "hoos", "lefs", "groc")  # all items are boxes to mark
DYNAMOMETRY_FIELDS = ("muscle", "side", "action", "position", "unit", "lever_arm_m")
DYNAMOMETRY_ROWS = 4
DYNAMOMETRY_MAX_ROWS = 40
EXERCISE_ROWS = 52  # rows the regimen forms may send: the API's 50 exercises and 2 new
ACKNOWLEDGEMENT_NOTE_LIMIT = 2000
FUNCTION_LABELS = {  # label and the form field's id, by function test
    "six_minute_walk": ("Six-minute walk", "f-6mw"),
    "chair_stand_30s": ("30-second chair stand", "f-cs"),
    "gait_speed": ("Gait speed", "f-gs"),
}
_UUID = re.compile(UUID_PATTERN)


def exercise_suggestions() -> dict[str, tuple[dict[str, Any], ...]]:
    """Suggested exercises by muscle id, each with the study that measured the muscle's
    activity during it (the reviewed table ``clinical/data/exercises.toml``)."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for exercise in load("exercises")["exercise"]:
        for muscle in exercise["muscles"]:
            found[muscle].append(exercise)
    return {muscle: tuple(exercises) for muscle, exercises in found.items()}


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


def _sign_in_form(
    request: Request,
    web: Any,
    next: str,
    error: str | None = None,
    email: str | None = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    # Each form carries the token of this browser's pre-session nonce (login CSRF).
    nonce = auth.sign_in_nonce(request)
    response = TEMPLATES.TemplateResponse(
        request,
        "sign_in.html",
        {
            "next": next,
            "error": error,
            "email": email,
            "csrf": auth.sign_in_form_token(web.settings.secret_key, nonce),
        },
        status_code=status,
        headers=headers,
    )
    auth.set_sign_in_cookie(response, web, nonce)
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, web: WebDep, next: str | None = None) -> Response:
    return _sign_in_form(request, web, _safe_next(next))


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in_submit(
    request: Request,
    web: WebDep,
    email: Form_ = None,
    password: Form_ = None,
    next: Form_ = None,
    csrf_token: Form_ = None,
) -> Response:
    target = _safe_next(next)
    if not auth.same_origin(request):
        raise ProblemError(403, "Sign in on hipspine's own sign-in page.", slug="csrf")
    if not auth.sign_in_form_ok(web.settings.secret_key, request, csrf_token):
        return _sign_in_form(
            request,
            web,
            target,
            "This sign-in form has expired. Please sign in again.",
            email,
            status=403,
        )
    if not email or not password:
        return _sign_in_form(
            request, web, target, "Enter your e-mail address and password.", email, status=422
        )
    try:
        user_id = auth.authenticate(web, email, password, client_address(request))
    except ProblemError as error:
        return _sign_in_form(request, web, target, error.detail, email, error.status, error.headers)
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
    offset: Offset = 0,
    attention_only: Annotated[bool, Query(alias="attention")] = False,
) -> Response:
    from hipspine.reports.progress import clinic_overview

    # Attention is known for the whole clinic, so the list is sorted (most urgent first,
    # then by name) and filtered before it is paged.
    wanted = (search or "").strip().casefold()
    listed = sorted(
        (
            o
            for o in clinic_overview(page.records, today()).values()
            if wanted in o.name.casefold() and (o.attention or not attention_only)
        ),
        key=lambda o: (o.urgency, o.name.casefold(), o.patient_id),
    )
    shown = listed[offset : offset + 25]
    patients = page.records.patients_by_id([o.patient_id for o in shown])
    overviews = {o.patient_id: o for o in shown}
    rows = [
        {
            "patient": patient,
            "attention": overviews[patient.id].attention,
            "acknowledged": overviews[patient.id].acknowledged,
            "conclusion": overviews[patient.id].conclusion,
            "last_visit": overviews[patient.id].last_visit,
        }
        for patient in patients
    ]
    for patient in patients:
        page.records.note("list", "patient_file", patient_id=patient.id)
    return page.render(
        "patients.html",
        rows=rows,
        search=search or "",
        total=len(listed),
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
        number = float(raw)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        errors[name] = "must be a number"
        return None
    return number


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
    from hipspine.reports.progress import (
        SeriesError,
        acknowledged_flags,
        attention,
        progress,
        schedule_of,
    )

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
        acknowledged=acknowledged_flags(file),
        side_groups=_side_to_side_groups(found.trajectory) if found is not None else [],
        schedule=schedule_of(file, day),
        latest=file.latest_assessment,
        muscle_labels={k: m.label for k, m in muscles().items()},
        link=None,
        reference=reference,
    )


def _therapy_events(file: Any) -> tuple[Any, ...]:
    from hipspine.reports.charts import Event

    started = [Event(r.started_on, "Therapy") for r in file.regimens]
    stopped = [Event(r.stopped_on, "Therapy stopped") for r in file.regimens if r.stopped_on]
    return (*started, *stopped)


def _side_to_side_groups(trajectory: Any) -> list[dict[str, Any]]:
    """The trajectory's left/right dynamometry pairs, one group per muscle, action and
    position (in the order first measured), each with the action and position in words."""
    strength = load("strength")
    actions = {a["id"]: a["label"] for a in strength["action"]}
    positions = {p["id"]: p["label"].split(" (")[0] for p in strength["position"]}
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for pair in trajectory.side_to_side:
        key = (pair.muscle, pair.action, pair.position)
        if key not in groups:
            groups[key] = {
                "label": pair.label,
                "action": actions.get(pair.action, pair.action.replace("_", " ")),
                "position": positions.get(pair.position, pair.position.replace("_", " ")),
                "rows": [],
            }
        groups[key]["rows"].append(pair)
    return list(groups.values())


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
    from hipspine.reports.progress import SeriesError

    file = _file(page, patient_id)
    try:
        pdf = progress_report(file, today())
    except SeriesError as error:
        # A stored measurement the clinical core does not accept: say which, not 500.
        raise ProblemError(
            422,
            "The progress report cannot be made until these stored measurements are "
            "corrected: " + "; ".join(error.problems),
            title="Report not available",
        ) from None
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
                    obs["value"] = _number(form, f"{key}.value", errors)
                    if obs["value"] is None:
                        continue
                    if finding.kind is Kind.COUNT:
                        of = form_text(form, f"{key}.of")
                        if of is None or not (of.isascii() and of.isdigit()) or len(of) > 6:
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
    # A grade recorded for both sides at once shows in both side fields; a grade of one
    # side wins over it.
    strength = sorted(case.get("strength", []), key=lambda t: t.get("side") != "bilateral")
    for test in strength:
        sides = ("right", "left") if test.get("side") == "bilateral" else (test.get("side"),)
        for side in sides:
            values[f"mmt.{test['muscle']}.{side or '-'}"] = test["mrc"]
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
        tested_here: set[tuple[str, str | None]] = set()
        bilateral = {t["muscle"] for t in case.get("strength", []) if t.get("side") == "bilateral"}
        for muscle, _, sides in _strength_rows():
            if len(sides) == 2:
                # The form shows a both-sides grade in each side field: what comes back
                # replaces it (kept as one both-sides grade while the two still agree).
                tested_here.add((muscle, "bilateral"))
            tested_here.update((muscle, side) for side in sides)
            grades = {side: form_text(form, f"mmt.{muscle}.{side or '-'}") for side in sides}
            if (
                muscle in bilateral
                and grades.get("right")
                and grades["right"] == grades.get("left")
            ):
                grades = {"bilateral": grades["right"]}
            for side, grade in grades.items():
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
        Encounter, patient_id, encounter_id, _version(form, encounter.version), {"case": case}
    )
    if form.get("then") == "assess":
        stored = _assess(page, patient_id, encounter)
        return _see_other(f"/patients/{patient_id}/assessments/{stored.id}")
    order = list(STAGE_PAGES)
    following = order[order.index(stage) + 1] if stage != order[-1] else None
    if following and form.get("then") == "next":
        return _see_other(f"/patients/{patient_id}/encounters/{encounter_id}/findings/{following}")
    return _see_other(f"/patients/{patient_id}/encounters/{encounter_id}/findings/{stage}?saved=1")


def _version(form: dict[str, str], current: int) -> int:
    raw = form.get("version")
    if raw is None:
        return current
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 2_000_000_000:
        raise ProblemError(400, "The form's version is not valid: reload the page and try again.")
    return int(raw)


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
    return _render_assessment(page, patient_id, stored)


def _acknowledgements(
    page: Page, patient_id: str, stored: StoredAssessment
) -> dict[str, dict[str, Any]]:
    """The acknowledgements that cover the red flags of ``stored`` (see
    :func:`~hipspine.reports.progress.covers`), by flag id, with who acknowledged each
    (their name) and when."""
    from hipspine.reports.progress import covers

    latest: dict[str, RedFlagAcknowledgement] = {}
    for ack in page.records.list(RedFlagAcknowledgement, patient_id, limit=500).items:
        if ack.flag not in latest or ack.created_at >= latest[ack.flag].created_at:
            latest[ack.flag] = ack
    found: dict[str, dict[str, Any]] = {}
    for flag in (stored.result or {}).get("red_flags", []):
        ack = latest.get(flag.get("id"))
        if ack is None or not covers(_acknowledged_on(page, patient_id, stored, ack), flag):
            continue
        by = page.session.get(User, ack.created_by) if ack.created_by else None
        found[ack.flag] = {
            "id": ack.id,
            "by": by.name if by is not None else "a former user",
            "on": ack.created_at.date(),
            "note": ack.note,
            "assessment_id": ack.assessment_id,
        }
    return found


def _acknowledged_on(
    page: Page, patient_id: str, shown: StoredAssessment, ack: RedFlagAcknowledgement
) -> dict[str, Any] | None:
    """The result of the assessment an acknowledgement was made on (None once deleted)."""
    if ack.assessment_id is None:
        return None
    if ack.assessment_id == shown.id:
        return shown.result
    try:
        return page.records.get_of(StoredAssessment, patient_id, ack.assessment_id).result
    except AccessRefused:
        return None


def _render_assessment(
    page: Page,
    patient_id: str,
    stored: StoredAssessment,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    if not (stored.result or {}).get("conclusion"):
        raise ProblemError(422, "This assessment was stored without the engine's result.")
    visit = (
        page.records.get_of(Encounter, patient_id, stored.encounter_id)
        if stored.encounter_id
        else None
    )
    return page.render(
        "assessment.html",
        status=status,
        patient=page.records.patient(patient_id),
        visit_date=visit.occurred_on if visit else stored.created_at.date(),
        stored=stored,
        a=stored.result,
        finding_labels={k: f.label for k, f in findings().items()},
        acknowledgements=_acknowledgements(page, patient_id, stored),
        note_limit=ACKNOWLEDGEMENT_NOTE_LIMIT,
        errors=errors or {},
        form=form or {},
    )


@router.post("/patients/{patient_id}/red-flags/{flag}/acknowledge", response_class=HTMLResponse)
async def acknowledge_red_flag(page: Page, patient_id: str, flag: str) -> Response:
    """Acknowledge a "consider" red flag seen on an assessment, with the clinician's note
    (e.g. the tests that answered it). The flag stays on the assessment, marked as
    acknowledged, and leaves the patient list's attention; urgent and emergency flags can
    never be acknowledged (400)."""
    records = page.records
    # Refused as (and audited for) the record this form would add, before anything else.
    records.check_patient(RedFlagAcknowledgement, patient_id, "create")
    form = _form_dict(await page.request.form())
    rule = next((r for r in flag_rules() if r.id == flag), None)
    if rule is None:
        raise ProblemError(404, "There is no such red flag.")
    if rule.urgency.overrides:
        raise ProblemError(
            400,
            f"An {rule.urgency.value} red flag cannot be acknowledged: it needs action "
            f"({rule.action})",
            title="Red flag cannot be acknowledged",
        )
    assessment_id = form_text(form, "assessment_id") or ""
    if not _UUID.fullmatch(assessment_id):
        raise ProblemError(400, "Acknowledge a red flag from the assessment that shows it.")
    stored = records.get_of(StoredAssessment, patient_id, assessment_id)
    fired = next(
        (f for f in (stored.result or {}).get("red_flags", []) if f.get("id") == flag), None
    )
    if fired is None:
        raise ProblemError(400, "This red flag did not fire on this assessment.")
    if fired.get("urgency") != "consider":
        raise ProblemError(
            400, "Only a red flag of urgency 'consider' can be acknowledged; act on this one."
        )
    key = f"ack.{flag}.note"
    note = form_text(form, "note")
    errors: dict[str, str] = {}
    if note is None:
        errors[key] = "say why this flag needs no further action now (e.g. the tests done)"
    elif len(note) > ACKNOWLEDGEMENT_NOTE_LIMIT:
        errors[key] = f"at most {ACKNOWLEDGEMENT_NOTE_LIMIT} characters (this note has {len(note)})"
    elif flag in _acknowledgements(page, patient_id, stored):
        errors[key] = "this flag is already acknowledged; withdraw that first to change it"
    if errors:
        return _render_assessment(
            page, patient_id, stored, errors, {key: form.get("note", "")}, status=422
        )
    records.add(
        RedFlagAcknowledgement(patient_id=patient_id, flag=flag, assessment_id=stored.id, note=note)
    )
    return _see_other(f"/patients/{patient_id}/assessments/{stored.id}#flag-{flag}")


@router.post(
    "/patients/{patient_id}/red-flags/acknowledgements/{acknowledgement_id}/withdraw",
    response_class=HTMLResponse,
)
def withdraw_acknowledgement(page: Page, patient_id: str, acknowledgement_id: str) -> Response:
    """Withdraw a red-flag acknowledgement (deleted, audited): the flag needs attention
    again. Back to the assessment it was made on, when that still exists."""
    records = page.records
    ack = records.get_of(RedFlagAcknowledgement, patient_id, acknowledgement_id)
    flag, back = ack.flag, ack.assessment_id
    records.delete_of(RedFlagAcknowledgement, patient_id, acknowledgement_id)
    if back:
        return _see_other(f"/patients/{patient_id}/assessments/{back}#flag-{flag}")
    return _see_other(f"/patients/{patient_id}")


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
        "suggestions": exercise_suggestions(),
        "suggestion_sources": load("exercises")["sources"],
        "muscle_labels": {k: m.label for k, m in muscles().items()},
        "open_medications": [
            m for m in reversed(file.medications) if m.stopped_on is None and m.pattern != "stopped"
        ],
        "running_regimens": [r for r in file.regimens if r.stopped_on is None],
        "today": today().isoformat(),
    }


@router.get("/patients/{patient_id}/plan", response_class=HTMLResponse)
def plan_page(page: Page, patient_id: str) -> Response:
    return page.render("plan.html", errors={}, form={}, **_plan_values(page, patient_id))


def _plan_refused(
    page: Page,
    patient_id: str,
    form: dict[str, str],
    errors: dict[str, str],
    failed: str,
    prefix: str = "",
) -> Response:
    """The plan page again (422) with the refused form as typed and each error by its
    field; ``failed`` names the form (a plan part, or one medication's or regimen's form,
    whose fields carry ``prefix``)."""
    return page.render(
        "plan.html",
        status=422,
        errors={prefix + k: v for k, v in errors.items()},
        form=form,
        failed=failed,
        **_plan_values(page, patient_id),
    )


@router.post("/patients/{patient_id}/plan/{what}", response_class=HTMLResponse)
async def plan_submit(page: Page, patient_id: str, what: str) -> Response:
    form = _form_dict(await page.request.form())
    records = page.records
    if what not in PLAN_PARTS:
        raise ProblemError(404, "No such part of the plan.")
    # Refused as (and audited for) the kind of record this form would add.
    records.check_patient(PLAN_PARTS[what], patient_id, "create")
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
            regimen = TherapyRegimenIn.model_validate(
                {"started_on": form_text(form, "started_on"), "exercises": _exercises_from(form)}
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
        if what == "procedure" and not form_text(form, "type"):
            errors["procedure.type"] = "choose the type of procedure"
    if errors:
        return _plan_refused(page, patient_id, form, errors, what)
    return _see_other(f"/patients/{patient_id}/plan?saved={what}")


def _exercises_from(form: dict[str, str]) -> list[dict[str, Any]]:
    """The regimen form's exercises (rows without a name are left out)."""
    exercises = []
    for i in range(EXERCISE_ROWS):
        name = form_text(form, f"ex.{i}.name")
        if not name:
            continue
        exercise: dict[str, Any] = {
            "name": name,
            "target_muscles": list(
                dict.fromkeys(v for k, v in form.items() if k.startswith(f"ex.{i}.muscle") and v)
            ),
        }
        for field in ("sets", "reps", "per_week", "hold_seconds", "notes"):
            if (value := form_text(form, f"ex.{i}.{field}")) is not None:
                exercise[field] = value
        exercises.append(exercise)
    return exercises


@router.post("/patients/{patient_id}/plan/medications/{medication_id}", response_class=HTMLResponse)
async def medication_change(page: Page, patient_id: str, medication_id: str) -> Response:
    """Change how an open medication is taken (from a date) or stop it.

    A medication record is one period of use; a change ends it the day before and starts
    a new period with the new use, so the series shows each visit's use as it was.
    """
    form = _form_dict(await page.request.form())
    records = page.records
    current = records.get_of(Medication, patient_id, medication_id)
    prefix = f"med.{medication_id}."
    errors: dict[str, str] = {}
    action = form.get("action")
    if action not in ("change", "stop"):
        raise ProblemError(422, "Choose to change or to stop the medication.")
    if current.stopped_on is not None or current.pattern == "stopped":
        errors["action"] = "this medication was already stopped"
    starts = _date_field(form, "from", errors)
    if starts is None and "from" not in errors:
        errors["from"] = "give the date the change takes effect"
    elif starts is not None and current.started_on is not None and starts <= current.started_on:
        errors["from"] = f"must be after the medication started ({current.started_on:%-d %b %Y})"
    elif starts is not None and starts > today():
        errors["from"] = "cannot be in the future"
    changed = None
    if action == "change" and not errors:
        try:
            changed = MedicationIn.model_validate(
                {
                    "name": current.name,
                    "dose": form_text(form, "dose") or current.dose,
                    "pattern": form_text(form, "pattern") or current.pattern,
                    "days_per_week": form_text(form, "days_per_week"),
                    "indication": current.indication,
                    "started_on": starts,
                }
            )
        except ValidationError as error:
            errors.update(_errors(error))
        if changed is not None and changed.pattern.value == "stopped":
            errors["pattern"] = "to stop the medication, use Stop"
    if errors:
        return _plan_refused(page, patient_id, form, errors, prefix.rstrip("."), prefix)
    assert starts is not None
    records.update_of(
        Medication,
        patient_id,
        medication_id,
        _version(form, current.version),
        {"stopped_on": starts - dt.timedelta(days=1)},
    )
    if changed is not None:
        records.add(Medication(patient_id=patient_id, **changed.model_dump()))
    return _see_other(f"/patients/{patient_id}/plan?saved=medication")


def _regimen_values(page: Page, patient_id: str, regimen: TherapyRegimen) -> dict[str, Any]:
    values = _plan_values(page, patient_id)
    values["regimen"] = regimen
    return values


def _regimen_form(regimen: TherapyRegimen) -> dict[str, str]:
    form = {
        "started_on": regimen.started_on.isoformat(),
        "stopped_on": regimen.stopped_on.isoformat() if regimen.stopped_on else "",
        "adherence_percent": ""
        if regimen.adherence_percent is None
        else f"{regimen.adherence_percent:g}",
        "version": str(regimen.version),
    }
    for i, exercise in enumerate(regimen.exercises):
        form[f"ex.{i}.name"] = exercise.get("name", "")
        for j, muscle in enumerate(exercise.get("target_muscles", [])):
            form[f"ex.{i}.muscle{'' if j == 0 else j + 1}"] = muscle
        for field in ("sets", "reps", "per_week", "hold_seconds", "notes"):
            if exercise.get(field) is not None:
                value = exercise[field]
                form[f"ex.{i}.{field}"] = f"{value:g}" if isinstance(value, float) else str(value)
    return form


@router.get("/patients/{patient_id}/plan/regimens/{regimen_id}", response_class=HTMLResponse)
def regimen_page(page: Page, patient_id: str, regimen_id: str) -> Response:
    regimen = page.records.get_of(TherapyRegimen, patient_id, regimen_id)
    return page.render(
        "regimen.html",
        errors={},
        form=_regimen_form(regimen),
        **_regimen_values(page, patient_id, regimen),
    )


@router.post("/patients/{patient_id}/plan/regimens/{regimen_id}", response_class=HTMLResponse)
async def regimen_submit(page: Page, patient_id: str, regimen_id: str) -> Response:
    """Save the edited regimen: exercises (a row cleared of its name is dropped), start
    date, last day (empty while it runs) and adherence. The record keeps its id; its
    history is in the audit log."""
    form = _form_dict(await page.request.form())
    regimen = page.records.get_of(TherapyRegimen, patient_id, regimen_id)
    errors: dict[str, str] = {}
    try:
        changes = TherapyRegimenIn.model_validate(
            {
                "started_on": form_text(form, "started_on"),
                "stopped_on": form_text(form, "stopped_on"),
                "exercises": _exercises_from(form),
                "adherence_percent": form_text(form, "adherence_percent"),
            }
        )
    except ValidationError as error:
        errors = _errors(error, "regimen.")
    else:
        if changes.stopped_on is not None and changes.stopped_on > today():
            errors["regimen.stopped_on"] = "cannot be in the future"
    if errors:
        return page.render(
            "regimen.html",
            status=422,
            errors=errors,
            form=form,
            **_regimen_values(page, patient_id, regimen),
        )
    page.records.update_of(
        TherapyRegimen,
        patient_id,
        regimen_id,
        _version(form, regimen.version),
        {
            "started_on": changes.started_on,
            "stopped_on": changes.stopped_on,
            "exercises": [e.model_dump(mode="json", exclude_none=True) for e in changes.exercises],
            "adherence_percent": changes.adherence_percent,
        },
    )
    return _see_other(f"/patients/{patient_id}/plan?saved=regimen")


@router.post("/patients/{patient_id}/plan/regimens/{regimen_id}/stop", response_class=HTMLResponse)
async def regimen_stop(page: Page, patient_id: str, regimen_id: str) -> Response:
    """Stop a running regimen: its last day (not before it started, not in the future).
    The record keeps its exercises; the charts mark the day it stopped."""
    form = _form_dict(await page.request.form())
    regimen = page.records.get_of(TherapyRegimen, patient_id, regimen_id)
    prefix = f"regimen.{regimen_id}."
    errors: dict[str, str] = {}
    last = _date_field(form, "stopped_on", errors)
    if regimen.stopped_on is not None:
        errors["stopped_on"] = f"this regimen already stopped on {_day(regimen.stopped_on)}"
    elif last is None and "stopped_on" not in errors:
        errors["stopped_on"] = "give the regimen's last day"
    elif last is not None and last < regimen.started_on:
        errors["stopped_on"] = (
            f"must not be before the regimen started ({_day(regimen.started_on)})"
        )
    elif last is not None and last > today():
        errors["stopped_on"] = "cannot be in the future"
    if errors or last is None:
        return _plan_refused(page, patient_id, form, errors, prefix.rstrip("."), prefix)
    page.records.update_of(
        TherapyRegimen,
        patient_id,
        regimen_id,
        _version(form, regimen.version),
        {"stopped_on": last},
    )
    return _see_other(f"/patients/{patient_id}/plan?saved=regimen-stopped")


def _day(value: dt.date) -> str:
    return f"{value.day} {value:%b %Y}"


# -- follow-up visit ----------------------------------------------------------------------


def _visit_values(page: Page, patient_id: str) -> dict[str, Any]:
    file = _file(page, patient_id)
    rated = sorted({(p.region, p.side) for p in file.pain})
    tested_set = {(s.muscle, s.side or "") for s in file.strength if s.mrc}
    for encounter in file.encounters:
        for test in (encounter.case or {}).get("strength", []):
            tested_set.add((test["muscle"], test.get("side") or ""))
    tested = sorted(tested_set)
    strength = load("strength")
    return {
        "file": file,
        "patient": file.patient,
        "rated": rated,
        "tested": tested,
        "instruments": _visit_instruments(page),
        "actions": strength["action"],
        "positions": strength["position"],
        "dynamometry_rows": max(DYNAMOMETRY_ROWS, len(_previous_readings(file)) + 2),
        "muscle_labels": {k: m.label for k, m in muscles().items()},
        "region_labels": {r.region: r.label for r in bodymap.rows()},
        "grades": MRC_GRADES,
        "function_tests": function_fields(),
        "today": today().isoformat(),
        "map_shapes": bodymap.shapes(),
        "map_rows": bodymap.rows(),
        "silhouette": bodymap.SILHOUETTE,
    }


def function_fields() -> list[dict[str, Any]]:
    """The visit form's function-test fields, their limits read from the clinical core
    (:func:`~hipspine.web.api.clinical.function_limits`, as the API checks them)."""
    fields = []
    for test, unit in FUNCTION_UNITS.items():
        low, high, whole = function_limits(test)
        label, field_id = FUNCTION_LABELS[test]
        fields.append(
            {
                "test": test,
                "id": field_id,
                "label": label,
                "unit": unit,
                "min": f"{low:g}",
                "max": f"{high:g}",
                "whole": whole,
            }
        )
    return fields


def _visit_instruments(page: Page) -> list[Any]:
    """The questionnaires a clinician may enter from a paper form (the clinic's, not off)."""
    from hipspine.clinical import instruments
    from hipspine.web.api.questionnaires import disabled_instruments

    off = disabled_instruments(page.session, page.actor.clinic_id)
    return [instruments.get(i) for i in VISIT_INSTRUMENTS if i not in off]


def _previous_readings(file: Any) -> list[tuple[str, str, str, str, str, str]]:
    """Dynamometry set-ups used before (muscle, side, action, position, unit, lever arm),
    so a follow-up repeats the same test in the same position."""
    seen: dict[tuple[str, str, str, str, str, str], None] = {}
    for test in file.strength:
        if test.force is not None and test.action and test.position:
            lever = "" if test.lever_arm_m is None else f"{test.lever_arm_m:g}"
            key = (
                test.muscle,
                test.side or "",
                test.action,
                test.position,
                test.unit or "N",
                lever,
            )
            seen[key] = None
    return list(seen)


@router.get("/patients/{patient_id}/visits/new", response_class=HTMLResponse)
def visit_page(page: Page, patient_id: str) -> Response:
    values = _visit_values(page, patient_id)
    prefill = {f"pain.{r}.{s}": "" for r, s in values["rated"]}
    for i, setup in enumerate(_previous_readings(values["file"])):
        for field, value in zip(DYNAMOMETRY_FIELDS, setup, strict=True):
            prefill[f"dyn.{i}.{field}"] = value
    return page.render("visit.html", errors={}, form=prefill, **values)


def _questionnaires(
    page: Page, form: dict[str, str], errors: dict[str, str]
) -> list[dict[str, Any]]:
    """Responses entered from paper forms, scored by the instrument's own scorer."""
    from hipspine.web.api.questionnaires import scored
    from hipspine.web.problems import Invalid

    responses = []
    for definition in _visit_instruments(page):
        answers = {
            item.id: value
            for item in definition.items
            if (value := form_text(form, f"q.{definition.id}.{item.id}")) is not None
        }
        if not answers:
            continue
        try:
            fields = scored(page.session, page.actor.clinic_id, definition.id, answers)
        except Invalid as error:
            for problem in error.errors:
                item = problem.field.removeprefix("answers.")
                errors[f"q.{definition.id}.{item}"] = problem.message
            continue
        values = [fields["score"], *(s["value"] for s in fields["subscales"].values())]
        if all(v is None for v in values):
            reasons = {s["reason"] for s in fields["subscales"].values() if s.get("reason")}
            errors[f"q.{definition.id}"] = "too few items answered to score it by its manual" + (
                f" ({'; '.join(sorted(reasons))})" if reasons else ""
            )
            continue
        fields["context"] = {**fields["context"], "entered_as": "paper form, by the clinician"}
        responses.append(fields)
    return responses


def _dynamometry(form: dict[str, str], errors: dict[str, str]) -> list[dict[str, Any]]:
    """Hand-held dynamometry readings, checked by the strength module (muscle, action,
    position, unit, lever arm). A row without a force is left out."""
    from hipspine.clinical.strength import DynamometryReading

    readings = []
    for i in range(DYNAMOMETRY_MAX_ROWS):
        raw = {f: form_text(form, f"dyn.{i}.{f}") for f in DYNAMOMETRY_FIELDS}
        force = _number(form, f"dyn.{i}.force", errors)
        if force is None:
            continue
        lever = _number(form, f"dyn.{i}.lever_arm_m", errors)
        if not 0 < force <= 5000:
            errors[f"dyn.{i}.force"] = "must be more than 0 and at most 5000"
            continue
        unit = raw["unit"] or "N"
        try:
            DynamometryReading(
                str(raw["muscle"]),
                raw["side"] if raw["side"] in ("left", "right") else None,  # type: ignore[arg-type]
                str(raw["action"]),
                str(raw["position"]),
                force,
                "kgf" if unit == "kg" else "N",
                lever,
            )
        except ValueError as error:
            errors[f"dyn.{i}"] = str(error)
            continue
        if unit not in ("N", "kg"):
            errors[f"dyn.{i}.unit"] = "allowed: N, kg (kilogram-force)"
            continue
        readings.append(
            {
                "muscle": raw["muscle"],
                "side": raw["side"] or None,
                "action": raw["action"],
                "position": raw["position"],
                "force": force,
                "unit": unit,
                "lever_arm_m": lever,
            }
        )
    return readings


def _grades(form: dict[str, str], errors: dict[str, str]) -> list[tuple[str, str | None, str]]:
    """Manual muscle test grades of the visit form (muscle, side, MRC grade)."""
    found = []
    for key, grade in form.items():
        if not key.startswith("mmt.") or not grade:
            continue
        _, muscle, side = [*key.split(".", 2), "", ""][:3]
        if muscle not in muscles() or side not in ("-", "", "right", "left", "bilateral"):
            errors[key] = "not a muscle of the vocabulary"
        elif grade not in MRC_GRADES:
            errors[key] = f"allowed: {', '.join(MRC_GRADES)}"
        else:
            found.append((muscle, None if side in ("", "-") else side, grade))
    return found


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
    for test in FUNCTION_UNITS:
        value = _number(form, f"function.{test}", errors)
        if value is not None:
            if problem := function_value_problem(test, value):
                errors[f"function.{test}"] = problem
            else:
                function[test] = value
    grades = _grades(form, errors)
    responses = _questionnaires(page, form, errors)
    readings = _dynamometry(form, errors)
    if errors or day is None:
        return page.render(
            "visit.html", status=422, errors=errors, form=form, **_visit_values(page, patient_id)
        )
    records = page.records
    # A visit on the day of an existing one (the first visit's function tests, say) is
    # recorded on it: one visit a day, as the timeline and the schedule count them.
    same_day = [
        e
        for e in records.list(Encounter, patient_id, limit=500).items
        if e.occurred_on == day and e.kind != "procedure"
    ]
    if same_day:
        encounter = same_day[0]
        if not encounter.note and form_text(form, "label"):
            records.update(
                Encounter, encounter.id, encounter.version, {"note": form_text(form, "label")}
            )
    else:
        encounter = records.add(
            Encounter(
                patient_id=patient_id,
                kind="follow_up",
                occurred_on=day,
                clinician_id=page.user.id,
                note=form_text(form, "label"),
            )
        )
    for fields in responses:
        records.add(
            QuestionnaireResponse(
                patient_id=patient_id,
                encounter_id=encounter.id,
                completed_on=day,
                source="clinic",
                **fields,
            )
        )
    for reading in readings:
        records.add(
            StrengthTest(patient_id=patient_id, encounter_id=encounter.id, tested_on=day, **reading)
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
    for muscle, side, grade in grades:
        records.add(
            StrengthTest(
                patient_id=patient_id,
                encounter_id=encounter.id,
                muscle=muscle,
                side=side,
                mrc=grade,
                tested_on=day,
            )
        )
    for test, value in function.items():
        records.add(
            FunctionTest(
                patient_id=patient_id,
                encounter_id=encounter.id,
                test=test,
                value=value,
                unit=FUNCTION_UNITS[test],
                tested_on=day,
            )
        )
    for goal in records.list(Goal, patient_id, limit=50).items:
        level = form_text(form, f"goal.{goal.id}")
        if level in ("-2", "-1", "0", "1", "2"):
            ratings = [r for r in goal.ratings or [] if r.get("rated_on") != day.isoformat()]
            records.update(
                Goal,
                goal.id,
                goal.version,
                {"ratings": [*ratings, {"rated_on": day.isoformat(), "level": int(str(level))}]},
            )
    return _see_other(f"/patients/{patient_id}#timeline")
