"""Password sign-in, throttling, sessions with CSRF, bearer tokens, expiry and sign-out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hipspine.store.models import AuthToken, LoginThrottle, User
from hipspine.web import auth
from tests.web.world import PASSWORD


def _sign_in(client, email, password=PASSWORD, kind="token"):
    return client.post(f"/api/auth/{kind}", json={"email": email, "password": password})


def test_token_sign_in_and_use(client, world, db):
    response = _sign_in(client, world.clinics["A"].emails["clinician"])
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["role"] == "clinician"
    with db.transaction() as session:
        stored = session.execute(select(AuthToken.token_hash)).scalars().all()
    assert token not in stored and auth.token_hash(token) in stored  # only the hash is kept


def test_wrong_password_and_unknown_user_look_the_same(client, world):
    wrong = _sign_in(client, world.clinics["A"].emails["clinician"], "not the password")
    unknown = _sign_in(client, "nobody@example.org", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == auth.SIGN_IN_FAILED
    assert wrong.headers["content-type"].startswith("application/problem+json")


def test_unknown_user_verifies_the_dummy_hash(client, world, web, monkeypatch):
    calls = []
    real_verify = web.passwords.verify

    def spy(password, hashed):
        calls.append(hashed)
        return real_verify(password, hashed)

    monkeypatch.setattr(web.passwords, "verify", spy)
    assert _sign_in(client, "nobody@example.org", "whatever").status_code == 401
    assert calls == [web.dummy_hash]


def test_inactive_user_cannot_sign_in_and_verifies_the_dummy_hash(
    client, world, web, db, monkeypatch
):
    with db.transaction() as session:
        user = session.get(User, world.clinics["A"].users["clinician"])
        user.active = False
    calls = []
    monkeypatch.setattr(web.passwords, "verify", lambda p, h: calls.append(h) or False)
    assert _sign_in(client, world.clinics["A"].emails["clinician"]).status_code == 401
    assert calls == [web.dummy_hash]
    # ... and existing tokens stop working.
    assert client.get("/api/auth/me", headers=world.headers("A", "clinician")).status_code == 401


def test_failed_sign_ins_are_rate_limited_per_account(client, world, web):
    email = world.clinics["A"].emails["clinician"]
    for _ in range(web.options.failures_per_account):
        assert _sign_in(client, email, "wrong").status_code == 401
    limited = _sign_in(client, email)  # even the right password now waits
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 15 * 60
    assert limited.json()["status"] == 429
    # Another account from another address is unaffected.
    other = _sign_in(client, world.clinics["A"].emails["admin"])
    assert other.status_code == 200


def test_rate_limit_window_passes(client, world, web, db):
    email = world.clinics["A"].emails["clinician"]
    for _ in range(web.options.failures_per_account):
        _sign_in(client, email, "wrong")
    with db.transaction() as session:
        for row in session.execute(select(LoginThrottle)).scalars():
            row.window_start = row.window_start - timedelta(hours=1)
    assert _sign_in(client, email).status_code == 200


def test_failed_sign_ins_are_rate_limited_per_client(client, world, web):
    limit = web.options.failures_per_client
    for i in range(limit):
        assert _sign_in(client, f"spray{i}@example.org", "wrong").status_code == 401
    assert _sign_in(client, world.clinics["A"].emails["admin"]).status_code == 429


def test_success_clears_the_account_counter(client, world, web):
    email = world.clinics["A"].emails["clinician"]
    for _ in range(web.options.failures_per_account - 1):
        _sign_in(client, email, "wrong")
    assert _sign_in(client, email).status_code == 200
    for _ in range(web.options.failures_per_account - 1):
        assert _sign_in(client, email, "wrong").status_code == 401


def test_session_cookie_flags_and_csrf(client, world, app):
    response = _sign_in(client, world.clinics["A"].emails["clinician"], kind="session")
    assert response.status_code == 200
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(auth.SESSION_COOKIE)
    ).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    csrf = response.json()["csrf_token"]
    patient = world.clinics["A"].patients["own"]
    # Reading with the cookie needs no CSRF token.
    assert client.get(f"/api/patients/{patient}").status_code == 200
    body = {"region": "lumbar", "side": "midline", "intensity": 5, "rated_on": "2026-01-05"}
    url = f"/api/patients/{patient}/pain-ratings"
    refused = client.post(url, json=body)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/csrf")
    assert client.post(url, json=body, headers={auth.CSRF_HEADER: "forged"}).status_code == 403
    assert client.post(url, json=body, headers={auth.CSRF_HEADER: csrf}).status_code == 201
    # Every unsafe method is covered.
    encounter = world.clinics["A"].records["own"]["goals"]
    delete = client.delete(f"/api/patients/{patient}/goals/{encounter}")
    assert delete.status_code == 403
    assert client.post("/api/auth/sign-out").status_code == 403


def test_secure_cookie_when_configured(db, tmp_path, world):
    from fastapi.testclient import TestClient

    from hipspine.config import Settings
    from hipspine.web import WebOptions, create_app
    from tests.web.conftest import CHEAP

    app = create_app(db, Settings(tmp_path, "", "k"), WebOptions(secure_cookies=True, hasher=CHEAP))
    with TestClient(app, base_url="https://testserver") as client:
        response = _sign_in(client, world.clinics["A"].emails["clinician"], kind="session")
    cookies = [c.lower() for c in response.headers.get_list("set-cookie")]
    assert all("; secure" in c for c in cookies)


def test_tampered_session_cookie_is_refused(client, world):
    _sign_in(client, world.clinics["A"].emails["clinician"], kind="session")
    value = client.cookies[auth.SESSION_COOKIE]
    client.cookies.set(auth.SESSION_COOKIE, value[:-2] + ("00" if value[-2:] != "00" else "11"))
    assert client.get("/api/auth/me").status_code == 401


def test_cookie_sign_out_revokes_the_session(client, world):
    response = _sign_in(client, world.clinics["A"].emails["clinician"], kind="session")
    cookie = client.cookies[auth.SESSION_COOKIE]
    csrf = response.json()["csrf_token"]
    assert client.post("/api/auth/sign-out", headers={auth.CSRF_HEADER: csrf}).status_code == 204
    client.cookies.set(auth.SESSION_COOKIE, cookie)  # a stolen copy of the cookie
    assert client.get("/api/auth/me").status_code == 401


def test_bearer_sign_out_revokes_the_token(client, world):
    headers = {"Authorization": f"Bearer {world.new_token('A', 'clinician')}"}
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    assert client.post("/api/auth/sign-out", headers=headers).status_code == 204
    again = client.get("/api/auth/me", headers=headers)
    assert again.status_code == 401 and "WWW-Authenticate" in again.headers


def test_expired_token_is_refused(client, world):
    token = world.new_token("A", "clinician", ttl=timedelta(seconds=-1))
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_no_credentials_and_garbage_credentials(client):
    assert client.get("/api/patients").status_code == 401
    assert client.get("/api/patients", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/patients", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_password_change_by_admin_ends_sign_ins(client, world):
    user_id = world.clinics["A"].users["clinician"]
    response = client.patch(
        f"/api/users/{user_id}",
        json={"password": "a new long password", "version": 1},
        headers=world.headers("A", "admin"),
    )
    assert response.status_code == 200
    assert client.get("/api/auth/me", headers=world.headers("A", "clinician")).status_code == 401
    assert (
        _sign_in(client, world.clinics["A"].emails["clinician"], "a new long password").status_code
        == 200
    )


def test_open_clinic_bootstraps_an_administrator(client, web):
    clinic_id, user_id = auth.open_clinic(
        web, "Hip and Spine Clinic", "Boss@clinic.example.org", "Dr Boss", "a long password"
    )
    token = _sign_in(client, "boss@clinic.example.org", "a long password").json()["access_token"]
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["id"] == user_id and me["role"] == "admin"
    clinic = client.get("/api/clinic", headers={"Authorization": f"Bearer {token}"}).json()
    assert clinic["id"] == clinic_id


def test_parallel_guesses_cannot_pass_the_limit(db, tmp_path):
    """Attempts arriving together are each counted before the (real, slow) Argon2 check,
    so no more than the limit are ever checked: the rest wait."""
    import threading
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from hipspine.config import Settings
    from hipspine.web import WebOptions, create_app

    options = WebOptions(secure_cookies=False)  # the production Argon2 parameters
    app = create_app(db, Settings(tmp_path, str(db.url), "k" * 40), options)
    auth.open_clinic(app.state.web, "Clinic", "victim@example.org", "V", "the right password")
    client = TestClient(app)
    attempts = 4 * options.failures_per_account
    start = threading.Barrier(attempts)

    def guess(i: int) -> int:
        start.wait()
        return _sign_in(client, "victim@example.org", f"guess {i}").status_code

    with ThreadPoolExecutor(attempts) as pool:
        answers = Counter(pool.map(guess, range(attempts)))
    assert answers == {
        401: options.failures_per_account,
        429: attempts - options.failures_per_account,
    }
    assert _sign_in(client, "victim@example.org", "the right password").status_code == 429
