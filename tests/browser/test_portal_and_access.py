"""The patient portal on a phone, sign-in and clinic isolation, and accessibility basics."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hipspine.store.models import PainRating, QuestionnaireResponse
from tests.browser.conftest import OTHER_EMAIL, Server, sign_in

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# Full-page screenshots are taken with the sticky bars in the flow, so they cover nothing.
UNSTICK = ".actions.sticky, .map-picker, .status-line { position: static !important; }"
IN_VIEW = """e => { const r = e.getBoundingClientRect();
  return r.height > 0 && r.top >= -1 && r.bottom <= window.innerHeight + 1; }"""


def _link_for_john(page: Any, server: Server) -> str:
    sign_in(page, server.url)
    page.goto(f"{server.url}/patients/{server.john}")
    page.get_by_role("button", name="Create link").click()
    url: str = page.locator("[data-portal-url]").input_value()
    assert "#" in url and "/portal" in url
    return url


def _count(server: Server, model: Any, **where: Any) -> int:
    with server.db.transaction() as session:
        query = select(func.count()).select_from(model).where(model.patient_id == server.john)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.execute(query).scalar_one())


def test_patient_fills_questionnaires_on_a_phone_offline_and_never_twice(
    server: Server, browser: Any, laptop: Any, artifacts: Path
) -> None:
    url = _link_for_john(laptop, server)
    odi_before = _count(server, QuestionnaireResponse, instrument="odi")
    groin_before = _count(server, PainRating, region="groin")
    context = browser.new_context(**PHONE)
    context.set_default_timeout(15000)
    phone = context.new_page()
    phone.goto(url)

    # The pain map first: tap the right groin on the body, set 3 with − (no keyboard).
    phone.get_by_role("heading", name="Where does it hurt?").wait_for()
    assert "#" not in phone.url  # the token does not stay in the address bar
    assert phone.locator("h1").count() == 1
    assert phone.evaluate(UNLABELLED) == [] and phone.evaluate(HEADING_SKIPS) == []
    phone.locator('.region[data-field="pain.groin.right"]').first.tap()
    picker = phone.get_by_role("group", name="Pain in the chosen place")
    assert picker.evaluate(IN_VIEW)  # it sticks to the bottom of the screen, by the body
    for _ in range(2):
        picker.get_by_role("button", name="Less pain").tap()
    assert phone.locator('input[name="pain.groin.right"]').input_value() == "3"
    assert "pain 3 of 10" in picker.inner_text()
    phone.screenshot(
        path=str(artifacts / "10-portal-painmap-phone.png"), full_page=True, style=UNSTICK
    )

    # Sent with no connection: the message is in sight at the top and under the button, and
    # the pain map goes by itself once the phone is back online.
    context.set_offline(True)
    send_map = phone.get_by_role("button", name="Send my pain map")
    send_map.click()
    status = phone.locator("#portal-status")
    status.filter(has_text="offline").wait_for()
    note = phone.locator("#portal-painmap [data-send-note]")
    assert "Not sent yet" in note.inner_text()
    assert status.evaluate(IN_VIEW) and note.evaluate(IN_VIEW)
    assert send_map.evaluate(IN_VIEW)
    phone.screenshot(path=str(artifacts / "12a-portal-painmap-offline-phone.png"))
    assert _count(server, PainRating, region="groin") == groin_before
    context.set_offline(False)

    # The ODI: item text and options from the instrument data, the licence notice shown.
    phone.get_by_role("heading", name="Oswestry Disability Index").wait_for()
    assert "Fairbank" in phone.locator("[data-licence]").inner_text()
    items = phone.locator("fieldset.item")
    assert items.count() == 10
    assert phone.evaluate(UNLABELLED) == [] and phone.locator("h1").count() == 1
    for i in range(5):
        items.nth(i).locator("label.option").nth(1).click()
    # Reloading mid-form (or the phone sleeping) keeps the answers: they are a local draft.
    phone.reload()
    phone.get_by_role("heading", name="Oswestry Disability Index").wait_for()
    assert phone.locator("fieldset.item input:checked").count() == 5
    for i in range(5, 10):
        items.nth(i).locator("label.option").nth(1).click()
    phone.screenshot(path=str(artifacts / "11-portal-odi-phone.png"), full_page=True)

    # The connection drops after the server stored the form but before the answer arrives.
    def lose_answer(route: Any) -> None:
        route.fetch()
        route.abort()

    phone.route("**/api/portal/responses", lose_answer)
    send = phone.get_by_role("button", name="Send", exact=True)
    send.click()
    status.filter(has_text="offline").wait_for()
    # The patient is at the bottom of a long form: both messages are on the screen.
    note = phone.locator("#portal-form [data-send-note]")
    assert status.evaluate(IN_VIEW) and note.evaluate(IN_VIEW) and send.evaluate(IN_VIEW)
    phone.screenshot(path=str(artifacts / "12-portal-offline-phone.png"))
    assert phone.locator("fieldset.item input:checked").count() == 10  # nothing lost
    phone.unroute("**/api/portal/responses")
    # Back online: the same form is sent again with the same submission key.
    context.set_offline(True)
    context.set_offline(False)
    phone.get_by_role("heading", name="Global Rating of Change").wait_for()
    phone.locator("fieldset.item label.option").nth(11).click()
    phone.get_by_role("button", name="Send").click()
    phone.get_by_role("heading", name="Thank you").wait_for()
    assert phone.locator("h1").count() == 1
    phone.screenshot(path=str(artifacts / "13-portal-done-phone.png"), full_page=True)

    assert _count(server, QuestionnaireResponse, instrument="odi") == odi_before + 1
    assert _count(server, PainRating, region="groin") == groin_before + 1
    # The link is spent: opening it again says so, clearly.
    phone.goto("about:blank")
    phone.goto(url)
    phone.get_by_role("heading", name="We could not open your link").wait_for()
    assert "already in" in phone.locator("#portal-error").inner_text()
    context.close()


def test_sign_in_errors_sign_out_and_clinic_isolation(
    server: Server, laptop: Any, artifacts: Path
) -> None:
    page = laptop
    page.goto(f"{server.url}/patients/{server.john}")
    page.wait_for_url(re.compile(r"/sign-in\?next="))
    page.get_by_label("E-mail address").fill(OTHER_EMAIL)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert "wrong" in page.get_by_role("alert").inner_text()
    page.get_by_label("Password").fill("hipspine-demo")
    page.get_by_role("button", name="Sign in").click()
    # Back to the page asked for, which for another clinic's patient does not exist.
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Not found").is_visible()
    page.goto(f"{server.url}/patients")
    assert "John Example" not in page.locator("main").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in")
    page.goto(f"{server.url}/patients")
    page.wait_for_url(re.compile(r"/sign-in\?next="))

    sign_in(page, server.url)
    row = page.get_by_role("row").filter(has_text="John Example")
    # Red flags are never hidden (the due follow-up may already be done by the portal test).
    # (acknowledged or not, a red flag is named in the row).
    assert "red flag" in row.inner_text().lower()
    page.screenshot(path=str(artifacts / "00-patient-list.png"), full_page=True)


UNLABELLED = """
() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(e => e.offsetParent !== null || e.type === 'radio')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.name || e.id || e.outerHTML.slice(0, 80))
"""


HEADING_SKIPS = """
() => { const out = []; let prev = 0;
  for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
    if (h.offsetParent === null) continue;
    const level = Number(h.tagName[1]);
    if (prev && level > prev + 1) out.push(h.tagName + ' ' + h.textContent.trim().slice(0, 40));
    prev = level; }
  return out; }
"""


def _ids(server: Server) -> tuple[str, str]:
    """John's intake encounter and his latest stored assessment."""
    from hipspine.store.models import Encounter, StoredAssessment

    with server.db.transaction() as session:
        encounter = session.execute(
            select(Encounter.id).where(
                Encounter.patient_id == server.john, Encounter.kind == "intake"
            )
        ).scalar_one()
        assessment = (
            session.execute(
                select(StoredAssessment.id)
                .where(StoredAssessment.patient_id == server.john)
                .order_by(StoredAssessment.created_at.desc())
            )
            .scalars()
            .first()
        )
    assert assessment is not None
    return str(encounter), str(assessment)


def test_labels_headings_and_keyboard(server: Server, laptop: Any, browser: Any) -> None:
    page = laptop
    # Keyboard only: the e-mail field has focus, Tab to the password, Enter signs in.
    page.goto(f"{server.url}/sign-in")
    # Browsers apply autofocus at the next rendering step after load, not at load itself.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'email'")
    page.keyboard.type("demo@hipspine.example")
    page.keyboard.press("Tab")
    page.keyboard.type("hipspine-demo")
    page.keyboard.press("Enter")
    page.wait_for_url("**/patients")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    john = server.john
    encounter, assessment = _ids(server)
    for path in (
        "/patients",
        "/patients/new",
        f"/patients/{john}",
        f"/patients/{john}/plan",
        f"/patients/{john}/visits/new",
        f"/patients/{john}/encounters/{encounter}/findings/exam",
        f"/patients/{john}/encounters/{encounter}/findings/history",
        f"/patients/{john}/assessments/{assessment}",
        "/dashboard",
    ):
        page.goto(server.url + path)
        assert page.evaluate(UNLABELLED) == [], path
        assert page.locator("h1").count() == 1, path
        assert page.evaluate("document.documentElement.lang") == "en"
        if "assessments" in path or path == "/dashboard":
            assert page.evaluate(HEADING_SKIPS) == [], path

    # The assessment from the keyboard: skip to the content, then every link in reach.
    page.goto(f"{server.url}/patients/{john}/assessments/{assessment}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")

    # The dashboard's filters from the keyboard alone.
    page.goto(f"{server.url}/dashboard")
    page.get_by_label("Condition").focus()
    page.keyboard.press("ArrowDown")  # the first condition after "Any"
    chosen = page.get_by_label("Condition").input_value()
    assert chosen
    page.get_by_label("to", exact=True).focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Show"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf".*condition={chosen}.*"))
    # The body map is usable from the keyboard: Enter on a region rates it.
    page.goto(f"{server.url}/patients/new")
    region = page.locator('.region[data-field="pain.lumbar.midline"]')
    region.focus()
    page.keyboard.press("Enter")
    assert page.locator('input[name="pain.lumbar.midline"]').input_value() == "5"
    assert "pain 5 of 10" in (region.get_attribute("aria-label") or "")
    page.keyboard.press("ArrowUp")  # arrows set the number without typing
    assert page.locator('input[name="pain.lumbar.midline"]').input_value() == "6"
    assert "pain 6 of 10" in page.locator(".map-picker .picker-name").inner_text()
    # A refused intake says what is wrong, and keeps what was typed.
    page.get_by_label("Date of birth").fill("1967-03-01")
    page.get_by_role("button", name="Save and continue to history").click()
    alert = page.get_by_role("alert")
    assert "name" in alert.inner_text()
    page.wait_for_function("document.activeElement.getAttribute('role') === 'alert'")
    assert page.get_by_label("Date of birth").input_value() == "1967-03-01"
