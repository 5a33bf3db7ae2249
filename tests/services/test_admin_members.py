"""The /admin panel's actions with the real database: authorized, audited, once per key."""

from __future__ import annotations

from sqlalchemy import select

from models.db import read_session, unit_of_work
from models.tables import AuditEntry, LedgerEntry, User
from services import admin_members, levels, users, wallet


def make_admin(user_id: int) -> int:
    with unit_of_work() as session:
        session.get(User, user_id).role = "admin"  # type: ignore[union-attr]
    return user_id


def registered_member(user_id: int) -> int:
    with unit_of_work() as session:
        users.register(session, users.Profile(user_id=user_id, first_name="M",
                                              language_code="es", username=f"m{user_id}"))
    return user_id


def audit_rows(request_key: str) -> list[AuditEntry]:
    with read_session() as session:
        return [row for row in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
                if row.details.get("request_key") == request_key]


def adjust(actor: int, member: int, amount: int, key: str,
           reason: str = "premio del concurso") -> admin_members.Outcome:
    with unit_of_work() as session:
        return admin_members.adjust_besitos(session, actor, member, amount, reason, key)


def test_an_admin_adjusts_besitos_once_per_key_with_an_audit_row(registered: int,
                                                                 new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = make_admin(registered)
    member = registered_member(new_user_id())
    first = adjust(admin, member, 40, f"adj:{member}")
    again = adjust(admin, member, 40, f"adj:{member}")
    assert first.result == "ok" and again.replayed and again.result == "ok"
    assert [e.type for e in first.events] == ["admin.confirmed", "admin.besitos_adjusted"]
    with read_session() as session:
        assert wallet.balance(session, member) == 40
        assert levels.lifetime_earned(session, member) == 0  # an adjustment is not earned
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.user_id == member)).one()
    assert entry.reason == "admin-adjust"
    rows = audit_rows(f"adj:{member}")
    assert [(r.actor_id, r.action, r.target, r.result) for r in rows] == \
        [(admin, "member.adjust_besitos", str(member), "ok")]
    assert rows[0].details["reason"] == "premio del concurso"
    assert all("premio" not in str(e.payload) for e in first.events)  # reasons stay in audit


def test_a_debit_below_zero_an_unknown_member_and_bad_input_are_refused(registered: int,
                                                                         new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = make_admin(registered)
    member = registered_member(new_user_id())
    cases = [(member, -1, "insufficient_funds"), (new_user_id(), 5, "unknown_member"),
             (member, 0, "invalid"), (member, 10**9, "invalid")]
    for i, (target, amount, expected) in enumerate(cases):
        outcome = adjust(admin, target, amount, f"bad:{member}:{i}")
        assert outcome.result == expected
        assert [r.result for r in audit_rows(f"bad:{member}:{i}")] == [expected]
    assert adjust(admin, member, 5, f"blank:{member}", reason="   ").result == "invalid"
    with read_session() as session:
        assert wallet.balance(session, member) == 0


def test_a_non_admin_is_refused_and_audited_for_every_action(registered: int,
                                                              new_user_id) -> None:  # type: ignore[no-untyped-def]
    member = registered_member(new_user_id())
    with unit_of_work() as session:
        adjusted = admin_members.adjust_besitos(session, registered, member, 10, "x",
                                                f"na1:{member}")
        role = admin_members.set_role(session, registered, registered, "admin", f"na2:{member}")
        viewed = admin_members.refuse(session, registered, "admin.panel", None, f"na3:{member}")
    assert (adjusted.result, role.result, viewed.result) == ("not_admin",) * 3
    for i, action in enumerate(("member.adjust_besitos", "member.set_role", "admin.panel")):
        rows = audit_rows(f"na{i + 1}:{member}")
        assert [(r.actor_id, r.action, r.result) for r in rows] == \
            [(registered, action, "not_admin")]
    with read_session() as session:
        assert session.get(User, registered).role == "member"  # type: ignore[union-attr]
        assert wallet.balance(session, member) == 0


def test_set_role_makes_an_admin_who_can_then_act(registered: int, new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = make_admin(registered)
    member = registered_member(new_user_id())
    with unit_of_work() as session:
        assert admin_members.set_role(session, admin, member, "admin", f"r:{member}").result == "ok"
        assert admin_members.set_role(session, admin, member, "king", f"r2:{member}").result \
            == "invalid"
    assert adjust(member, admin, 3, f"by-new:{member}").result == "ok"


def test_find_card_and_audit_log(registered: int, new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = make_admin(registered)
    member = registered_member(new_user_id())
    adjust(admin, member, 7, f"card:{member}")
    with read_session() as session:
        assert admin_members.find(session, str(member)).id == member  # type: ignore[union-attr]
        assert admin_members.find(session, f"@M{member}").id == member  # type: ignore[union-attr]
        assert admin_members.find(session, "@") is None
        card = admin_members.card(session, admin_members.find(session, str(member)))  # type: ignore[arg-type]
        assert (card.balance, card.role, [e.amount for e in card.ledger]) == (7, "member", [7])
        about = admin_members.audit_log(session, target=str(member))
        by_admin = admin_members.audit_log(session, actor_id=admin)
    assert about and all(r.target == str(member) or r.actor_id == member for r in about)
    assert by_admin and all(r.actor_id == admin for r in by_admin)
