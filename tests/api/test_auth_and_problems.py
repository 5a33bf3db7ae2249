"""API keys (hashed, scoped, revocable, audited) and problem documents, against the real
app under uvicorn and the real SQL database."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api import problems
from api.app import create_app
from models.db import read_session, unit_of_work
from models.tables import ApiKey, AuditEntry
from services import apikeys
from tests.api.conftest import KeyFactory, auth
from tests.support import ROOT

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


def test_scopes_imply_lower_ones() -> None:
    assert apikeys.has_scope(["admin"], "member") and apikeys.has_scope(["admin"], "read")
    assert apikeys.has_scope(["member"], "read")
    assert not apikeys.has_scope(["member"], "admin")
    assert not apikeys.has_scope(["read"], "member")
    assert not apikeys.has_scope([], "read")
    assert apikeys.normalize_scopes(["member", "read", " read"]) == ["read", "member"]
    with pytest.raises(apikeys.ApiKeyError):
        apikeys.normalize_scopes(["root"])


def test_key_is_stored_hashed_and_creation_is_audited(make_key: KeyFactory) -> None:
    key_id, plaintext = make_key("read", name="hash check")
    assert plaintext.startswith("yb_")
    _, prefix, secret = plaintext.split("_", 2)
    with read_session() as session:
        row = session.get(ApiKey, key_id)
        assert row is not None
        assert row.prefix == prefix
        assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
        # the plaintext (or its secret part) appears in no column of the table
        dump = " ".join(str(value) for value in session.execute(
            text("SELECT * FROM api_keys")).all())
        assert plaintext not in dump and secret not in dump
        audit = session.scalars(select(AuditEntry).where(
            AuditEntry.target == f"api_key:{key_id}")).all()
        assert [(a.action, a.result, a.actor_id) for a in audit] == [
            ("api_key.create", "ok", 1)]
        assert plaintext not in str(audit[0].details) and secret not in str(audit[0].details)
        assert apikeys.verify(session, plaintext).id == key_id
        assert apikeys.verify(session, plaintext + "x") is None
        assert apikeys.verify(session, f"yb_{prefix}_wrong") is None
        assert apikeys.verify(session, "nonsense") is None


def test_missing_or_wrong_key_is_401(api_v1: httpx.Client, registered: int) -> None:
    for headers in ({}, {"Authorization": "Bearer yb_000000000000_nope"},
                    {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwdw=="},
                    {"X-API-Key": "garbage"}, {"Authorization": "Bearer " + "x" * 5000}):
        response = api_v1.get(f"/members/{registered}", headers=headers)
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert body["title"] == "Unauthorized"


def test_valid_key_in_either_header(api_v1: httpx.Client, make_key: KeyFactory,
                                    registered: int) -> None:
    key_id, key = make_key("read")
    assert api_v1.get(f"/members/{registered}", headers=auth(key)).status_code == 200
    assert api_v1.get(f"/members/{registered}", headers={"X-API-Key": key}).status_code == 200
    with read_session() as session:
        assert session.get(ApiKey, key_id).last_used_at is not None


def test_wrong_scope_is_403(api_v1: httpx.Client, make_key: KeyFactory,
                            registered: int) -> None:
    _, reader = make_key("read")
    response = api_v1.post(f"/members/{registered}/daily-gift",
                           headers={**auth(reader), "Idempotency-Key": "k1"})
    body = assert_problem(response, 403)
    assert "member" in body["detail"]


def test_revoked_key_is_401_and_revocation_is_audited(api_v1: httpx.Client,
                                                      make_key: KeyFactory,
                                                      registered: int) -> None:
    key_id, key = make_key("admin")
    assert api_v1.get(f"/members/{registered}", headers=auth(key)).status_code == 200
    with unit_of_work() as session:
        apikeys.revoke(session, key_id, revoked_by=7)
    assert_problem(api_v1.get(f"/members/{registered}", headers=auth(key)), 401)
    with read_session() as session:
        actions = [(a.action, a.actor_id) for a in session.scalars(
            select(AuditEntry).where(AuditEntry.target == f"api_key:{key_id}")
            .order_by(AuditEntry.id))]
    assert actions == [("api_key.create", 1), ("api_key.revoke", 7)]


def test_validation_errors_name_the_field(api_v1: httpx.Client, make_key: KeyFactory,
                                          registered: int) -> None:
    _, key = make_key("read")
    body = assert_problem(api_v1.get(f"/members/{registered}/ledger?limit=0",
                                     headers=auth(key)), 422)
    assert [e["field"] for e in body["errors"]] == ["limit"]
    assert "limit" in body["detail"]
    body = assert_problem(api_v1.get(f"/members/{registered}/ledger?limit=abc&before_id=-1",
                                     headers=auth(key)), 422)
    assert {e["field"] for e in body["errors"]} == {"limit", "before_id"}
    body = assert_problem(api_v1.get("/members/abc", headers=auth(key)), 422)
    assert body["errors"][0]["field"] == "user_id"
    assert body["errors"][0]["location"] == "path"


@pytest.mark.parametrize("user_id", [str(2**63), str(2**64 + 5), "9" * 400, "-1", "0",
                                     "1e5", "1.5", "%00", "NaN"])
def test_huge_or_malformed_ids_are_4xx(api_v1: httpx.Client, make_key: KeyFactory,
                                       user_id: str) -> None:
    _, key = make_key("member")
    for response in (
        api_v1.get(f"/members/{user_id}", headers=auth(key)),
        api_v1.get(f"/members/{user_id}/ledger", headers=auth(key)),
        api_v1.get(f"/members/1/ledger?before_id={user_id}", headers=auth(key)),
        api_v1.post(f"/members/{user_id}/daily-gift",
                    headers={**auth(key), "Idempotency-Key": "huge"}),
    ):
        assert 400 <= response.status_code < 500, (response.request.url, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)


def test_largest_64_bit_id_is_a_clean_404(api_v1: httpx.Client, make_key: KeyFactory) -> None:
    _, key = make_key("read")
    body = assert_problem(api_v1.get(f"/members/{2**63 - 1}", headers=auth(key)), 404)
    assert body["title"] == "Unknown member"


def test_unknown_route_and_method_are_problems(api_v1: httpx.Client) -> None:
    assert_problem(api_v1.get("/nowhere"), 404)
    assert_problem(api_v1.delete("/members/1/daily-gift"), 405)


def test_idempotency_key_is_required_and_checked(api_v1: httpx.Client, make_key: KeyFactory,
                                                 registered: int) -> None:
    _, key = make_key("member")
    url = f"/members/{registered}/daily-gift"
    body = assert_problem(api_v1.post(url, headers=auth(key)), 400)
    assert "Idempotency-Key" in body["detail"]
    assert_problem(api_v1.post(url, headers={**auth(key), "Idempotency-Key": "x" * 201}), 400)
    assert_problem(api_v1.post(url, headers={**auth(key), "Idempotency-Key": ""}), 400)
    response = api_v1.post(url, headers={**auth(key), "Idempotency-Key": "ok\u00e9".encode(
        "latin-1")}, content=b"{not json")
    assert_problem(response, 400)


def test_unexpected_errors_are_500_problems_without_internals(
        caplog: pytest.LogCaptureFixture) -> None:
    app = create_app()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: postgresql://user:pw@db")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert body["correlation_id"] == response.headers["x-correlation-id"]
    assert any(r.exc_info and r.name == problems.__name__ for r in caplog.records)


def test_cli_creates_lists_and_revokes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "api.keys", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    created = cli("create", "cli tool", "--scopes", "read,member", "--created-by", "5")
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    key = next(line for line in lines if line.startswith("yb_"))
    key_id = int(lines[0].split()[3])
    listed = cli("list")
    assert listed.returncode == 0 and "cli tool" in listed.stdout
    assert key not in listed.stdout and key.split("_", 2)[2] not in listed.stdout
    with read_session() as session:
        assert apikeys.verify(session, key).scopes == ["read", "member"]
    assert cli("revoke", str(key_id)).returncode == 0
    with read_session() as session:
        assert apikeys.verify(session, key) is None
    bad = cli("create", "x", "--scopes", "root")
    assert bad.returncode == 2 and "unknown scope" in bad.stderr
