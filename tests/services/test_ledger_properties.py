"""Property tests of the ledger (hypothesis), on the test session's real database.

Any sequence of credits, debits, holds (a debit with a hold key, as a bid takes) and
refunds (the hold's amount credited back with `earned=False`) — with keys repeated as a
redelivery repeats them, and debits beyond the balance — keeps: balance == ledger sum,
balance ≥ 0, a repeated key changes nothing, and `lifetime_earned` grows only by earned
credits. Each example runs against a fresh member and a simple model of the wallet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from models.db import read_session, unit_of_work
from models.tables import LedgerEntry, Wallet
from services import users, wallet

KEY_SPACE = 6  # few key numbers, so keys repeat often (redelivery, reuse)

operation = st.one_of(
    st.tuples(st.just("credit"), st.integers(1, 60), st.integers(0, KEY_SPACE)),
    st.tuples(st.just("debit"), st.integers(1, 80), st.integers(0, KEY_SPACE)),
    st.tuples(st.just("hold"), st.integers(1, 80), st.integers(0, KEY_SPACE)),
    st.tuples(st.just("refund"), st.just(0), st.integers(0, KEY_SPACE)),
)


@dataclass
class Model:
    """What the wallet must look like: the balance, what was earned, the keys used."""

    balance: int = 0
    earned: int = 0
    used: dict[str, int] = field(default_factory=dict)  # key → signed amount applied
    holds: dict[int, int] = field(default_factory=dict)  # hold number → amount held


def state(user_id: int) -> tuple[int, int, int, int]:
    """(balance, lifetime earned, ledger sum, ledger rows) as stored."""
    with read_session() as session:
        account = session.get(Wallet, user_id)
        assert account is not None
        rows = session.scalar(select(func.count(LedgerEntry.id))
                              .where(LedgerEntry.user_id == user_id))
        return (account.balance, account.lifetime_earned, wallet.ledger_sum(session, user_id),
                int(rows or 0))


def step(user_id: int, model: Model, kind: str, amount: int, number: int) -> None:
    """Apply one operation to the database and to the model; check they agree."""
    before = state(user_id)
    earned = True
    if kind == "credit":
        key, signed = f"credit:{user_id}:{number}", amount
    elif kind == "debit":
        key, signed = f"debit:{user_id}:{number}", -amount
    elif kind == "hold":
        key, signed = f"hold:{user_id}:{number}", -amount
    else:  # refund the hold with this number, if it was ever taken
        if number not in model.holds:
            return
        key, signed, earned = f"refund:{user_id}:{number}", model.holds[number], False

    repeated = key in model.used
    try:
        with unit_of_work() as session:
            change = wallet.apply(session, user_id, signed, reason=kind, key=key, earned=earned)
    except wallet.InsufficientFunds:
        assert not repeated and model.balance + signed < 0  # refused only when it must be
        assert state(user_id) == before
        return
    except wallet.WalletError:  # the key was used for another amount
        assert repeated and model.used[key] != signed
        assert state(user_id) == before
        return

    if repeated:  # the same change again (a redelivery): nothing moves
        assert model.used[key] == signed and change.applied is False
        assert state(user_id) == before
        return
    assert change.applied is True and model.balance + signed >= 0
    model.used[key] = signed
    model.balance += signed
    if signed > 0 and earned:
        model.earned += signed
    if kind == "hold":
        model.holds[number] = -signed
    balance, lifetime, total, rows = state(user_id)
    assert (balance, lifetime, total, rows) == (model.balance, model.earned, model.balance,
                                                before[3] + 1)
    assert change.balance == balance


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=1, max_size=20))
def test_any_sequence_keeps_the_books(new_user_id, ops) -> None:  # type: ignore[no-untyped-def]
    uid = new_user_id()
    with unit_of_work() as session:
        users.register(session, users.Profile(user_id=uid))
    model = Model()
    for kind, amount, number in ops:
        step(uid, model, kind, amount, number)
        balance, lifetime, total, _ = state(uid)
        assert balance == total == model.balance >= 0
        assert lifetime == model.earned  # only earned credits ever raised it
    with read_session() as session:
        assert [m for m in wallet.mismatches(session) if m[0] == uid] == []


def test_a_refunded_hold_is_not_counted_as_earned(registered: int) -> None:
    model = Model()
    for kind, amount, number in [("credit", 50, 0), ("hold", 30, 1), ("refund", 0, 1),
                                 ("refund", 0, 1), ("hold", 30, 1), ("debit", 71, 2)]:
        step(registered, model, kind, amount, number)
    assert state(registered) == (50, 50, 50, 3)
