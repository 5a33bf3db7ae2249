"""/api/v1/admin/… with the real app, worker, databases and stand-in: the /admin panel's
actions over the API (as the key's admin, audited), the audit log, dead letters."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from models.db import read_session, unit_of_work
from models.tables import AuditEntry, DeadLetter, User
from services import apikeys, wallet
from tasks import deadletters
from tests.api.conftest import auth
from tests.support import wait_until


def admin_key(created_by: int | None) -> tuple[int, str]:
    with unit_of_work() as session:
        row, plaintext = apikeys.create(session, "admin tools", ("admin",),
                                        created_by=created_by)
        return row.id, plaintext


def make_admin(user_id: int) -> int:
    with unit_of_work() as session:
        session.get(User, user_id).role = "admin"  # type: ignore[union-attr]
    return user_id


def audits(action: str, target: str) -> list[AuditEntry]:
    with read_session() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.action == action, AuditEntry.target == target).order_by(AuditEntry.id)))


def test_an_admin_key_adjusts_besitos_as_its_admin_and_it_is_audited(
        api_v1: httpx.Client, worker: Any, standin: Any, registered: int,
        new_user_id: Any) -> None:
    from tests.services.test_admin_members import registered_member

    admin = make_admin(registered)
    member = registered_member(new_user_id())
    _, key = admin_key(admin)
    found = api_v1.get("/admin/members", params={"query": f"@m{member}"}, headers=auth(key))
    assert found.status_code == 200 and found.json()["user_id"] == member
    response = api_v1.post(f"/admin/members/{member}/besitos", json={"amount": 30,
                                                                     "reason": "sorteo"},
                           headers=auth(key) | {"Idempotency-Key": "adj-1"})
    assert response.status_code == 202, response.text
    standin.wait_for_message(member, "ajustó tus besitos: +30", timeout=20)
    wait_until(lambda: [a.result for a in audits("member.adjust_besitos", str(member))]
               == ["ok"], timeout=15, message="audited")
    with read_session() as session:
        assert wallet.balance(session, member) == 30
    rows = api_v1.get("/admin/audit", params={"target": str(member)}, headers=auth(key)).json()
    assert any(r["action"] == "member.adjust_besitos" and r["actor_id"] == admin for r in rows)
    reload = api_v1.post("/admin/content/reload",
                         headers=auth(key) | {"Idempotency-Key": f"reload-{admin}"})
    assert reload.status_code == 202, reload.text

    def reloaded() -> bool:
        with read_session() as session:
            return session.scalars(select(AuditEntry).where(
                AuditEntry.action == "content.reload", AuditEntry.actor_id == admin,
                AuditEntry.result == "ok")).first() is not None

    wait_until(reloaded, timeout=30, message="catalogs reloaded through the API")
    zero = api_v1.post(f"/admin/members/{member}/besitos", json={"amount": 0, "reason": "x"},
                       headers=auth(key) | {"Idempotency-Key": "adj-0"})
    assert zero.status_code == 422 and zero.json()["errors"][0]["field"] == "amount"


def test_a_key_whose_creator_is_not_an_admin_is_refused_and_audited(
        api_v1: httpx.Client, worker: Any, registered: int, new_user_id: Any) -> None:
    from tests.services.test_admin_members import registered_member

    member = registered_member(new_user_id())
    _, key = admin_key(registered)  # a member, not an admin
    assert api_v1.post(f"/admin/members/{member}/role", json={"role": "admin"},
                       headers=auth(key) | {"Idempotency-Key": "role-1"}).status_code == 202
    wait_until(lambda: [a.result for a in audits("member.set_role", str(member))]
               == ["not_admin"], timeout=15, message="refusal audited")
    with read_session() as session:
        assert session.get(User, member).role == "member"  # type: ignore[union-attr]


def test_dead_letters_are_listed_replayed_and_discarded_with_audit(
        api_v1: httpx.Client, registered: int) -> None:
    _, key = admin_key(make_admin(registered))
    for n in (1, 2):
        deadletters.store(task_id=f"dead-{registered}-{n}", task_name="tasks.events.relay",
                          args=[], kwargs={}, error="boom", correlation_id=None)
    with read_session() as session:
        ids = [d.id for d in session.scalars(select(DeadLetter).where(
            DeadLetter.task_id.like(f"dead-{registered}-%")).order_by(DeadLetter.id))]
    listed = {d["id"] for d in api_v1.get("/admin/dead-letters", headers=auth(key)).json()}
    assert set(ids) <= listed
    replayed = api_v1.post(f"/admin/dead-letters/{ids[0]}/replay", headers=auth(key))
    assert replayed.status_code == 200 and replayed.json()["id"] == ids[0]
    assert api_v1.post(f"/admin/dead-letters/{ids[1]}/discard",
                       headers=auth(key)).status_code == 204
    for letter in ids:
        assert api_v1.post(f"/admin/dead-letters/{letter}/replay",
                           headers=auth(key)).status_code == 404
    assert [a.result for a in audits("deadletter.replay", str(ids[0]))] == ["ok", "unknown"]
    assert [a.result for a in audits("deadletter.discard", str(ids[1]))] == ["ok"]


def test_admin_endpoints_need_the_admin_scope(api_v1: httpx.Client, make_key: Any) -> None:
    _, member_key = make_key("member")
    for method, path in (("GET", "/admin/audit"), ("GET", "/admin/dead-letters"),
                         ("POST", "/admin/content/reload")):
        response = api_v1.request(method, path, headers=auth(member_key)
                                  | {"Idempotency-Key": "x"})
        assert response.status_code == 403, path
    assert api_v1.get("/admin/audit").status_code == 401
