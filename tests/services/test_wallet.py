"""Wallet rules against the real SQL database (SQLite or PostgreSQL)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.db import read_session, unit_of_work
from services import wallet


def test_credit_then_debit_keeps_balance_equal_to_ledger(registered: int) -> None:
    with unit_of_work() as session:
        assert wallet.credit(session, registered, 30, reason="test", key=f"c:{registered}").applied
        assert wallet.debit(session, registered, 12, reason="test", key=f"d:{registered}").balance == 18
    with read_session() as session:
        assert wallet.balance(session, registered) == 18
        assert wallet.ledger_sum(session, registered) == 18


def test_same_key_twice_changes_nothing(registered: int) -> None:
    for _ in range(2):
        with unit_of_work() as session:
            change = wallet.credit(session, registered, 10, reason="test", key=f"k:{registered}")
    assert change.applied is False
    with read_session() as session:
        assert wallet.balance(session, registered) == 10
        assert len(wallet.history(session, registered)) == 1


def test_key_reused_for_another_amount_is_refused(registered: int) -> None:
    with unit_of_work() as session:
        wallet.credit(session, registered, 10, reason="test", key=f"x:{registered}")
    with pytest.raises(wallet.WalletError), unit_of_work() as session:
        wallet.credit(session, registered, 11, reason="test", key=f"x:{registered}")


def test_balance_never_goes_negative(registered: int) -> None:
    with unit_of_work() as session:
        wallet.credit(session, registered, 5, reason="test", key=f"a:{registered}")
    with pytest.raises(wallet.InsufficientFunds), unit_of_work() as session:
        wallet.debit(session, registered, 6, reason="test", key=f"b:{registered}")
    with read_session() as session:
        assert wallet.balance(session, registered) == 5
        assert wallet.ledger_sum(session, registered) == 5


def test_unknown_member_has_no_wallet() -> None:
    with pytest.raises(wallet.UnknownWallet), unit_of_work() as session:
        wallet.credit(session, 999_999_999_999, 5, reason="test", key="nobody")


operations = st.lists(st.tuples(st.sampled_from(["credit", "debit"]),
                                st.integers(min_value=1, max_value=50),
                                st.integers(min_value=0, max_value=8)),
                      min_size=1, max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_any_sequence_keeps_ledger_and_balance_equal(new_user_id, ops) -> None:  # type: ignore[no-untyped-def]
    from services import users

    uid = new_user_id()
    with unit_of_work() as session:
        users.register(session, users.Profile(user_id=uid))
    expected = 0
    applied_keys: dict[str, int] = {}
    for kind, amount, key_no in ops:
        key = f"{kind}:{uid}:{key_no}"
        signed = amount if kind == "credit" else -amount
        try:
            with unit_of_work() as session:
                wallet.apply(session, uid, signed, reason="prop", key=key)
        except wallet.WalletError:
            continue
        if key not in applied_keys:
            applied_keys[key] = signed
            expected += signed
    with read_session() as session:
        assert wallet.balance(session, uid) == expected >= 0
        assert wallet.ledger_sum(session, uid) == expected
        assert wallet.mismatches(session) == []
