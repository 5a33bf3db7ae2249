"""Besitos wallets: every change is a ledger row with a unique idempotency key.

The balance never goes below zero and always equals the sum of the member's ledger.
Callers pass the session of their unit of work; the wallet row is locked (`FOR UPDATE`
on PostgreSQL; SQLite's writer lock does the same) so concurrent changes serialize.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.tables import LedgerEntry, Wallet
from services import levels
from services.events import Event


class WalletError(Exception):
    """A wallet change that cannot be made (a permanent error, not retried)."""


class InsufficientFunds(WalletError):
    pass


class UnknownWallet(WalletError):
    pass


@dataclass(frozen=True)
class Change:
    entry: LedgerEntry
    applied: bool  # False when the idempotency key had been used already
    # Events the change recorded in the same transaction (a `level.up` when an earned credit
    # crossed a level threshold): the caller publishes them after commit with its own, or
    # the outbox relay does.
    events: tuple[Event, ...] = ()

    @property
    def balance(self) -> int:
        return self.entry.balance_after


def lock(session: Session, user_id: int) -> Wallet:
    """The member's wallet, locked until the transaction ends (serializes their changes)."""
    wallet = session.scalars(
        select(Wallet).where(Wallet.user_id == user_id).with_for_update()
    ).one_or_none()
    if wallet is None:
        raise UnknownWallet(f"no wallet for member {user_id}")
    return wallet


def apply(session: Session, user_id: int, amount: int, *, reason: str, key: str,
          earned: bool = True) -> Change:
    """Credit (amount > 0) or debit (amount < 0) once per `key`.

    A credit counts toward the member's `lifetime_earned` (levels, leaderboard) unless
    `earned` is False: money coming back (a refunded bid hold) was not earned. An earned
    credit that crosses a level threshold records `level.up` here (`Change.events`).
    """
    if amount == 0:
        raise WalletError("amount must not be zero")
    if not key:
        raise WalletError("an idempotency key is required")
    wallet = lock(session, user_id)
    existing = session.scalars(
        select(LedgerEntry).where(LedgerEntry.idempotency_key == key)
    ).one_or_none()
    if existing is not None:
        if existing.user_id != user_id or existing.amount != amount:
            raise WalletError(f"idempotency key {key!r} was used for another change")
        return Change(existing, applied=False)
    new_balance = wallet.balance + amount
    if new_balance < 0:
        raise InsufficientFunds(f"balance {wallet.balance} < {-amount}")
    wallet.balance = new_balance
    recorded: list[Event] = []
    if amount > 0 and earned:
        before = wallet.lifetime_earned
        wallet.lifetime_earned += amount
        recorded = levels.on_earned(session, user_id, before, wallet.lifetime_earned)
    entry = LedgerEntry(user_id=user_id, amount=amount, reason=reason, idempotency_key=key,
                        balance_after=new_balance)
    session.add(entry)
    session.flush()
    return Change(entry, applied=True, events=tuple(recorded))


def credit(session: Session, user_id: int, amount: int, *, reason: str, key: str,
           earned: bool = True) -> Change:
    if amount <= 0:
        raise WalletError("a credit must be positive")
    return apply(session, user_id, amount, reason=reason, key=key, earned=earned)


def debit(session: Session, user_id: int, amount: int, *, reason: str, key: str) -> Change:
    if amount <= 0:
        raise WalletError("a debit must be positive")
    return apply(session, user_id, -amount, reason=reason, key=key)


def balance(session: Session, user_id: int) -> int:
    value = session.scalar(select(Wallet.balance).where(Wallet.user_id == user_id))
    return int(value or 0)


def history(session: Session, user_id: int, limit: int = 10) -> list[LedgerEntry]:
    """The member's latest ledger lines, newest first."""
    return list(session.scalars(
        select(LedgerEntry).where(LedgerEntry.user_id == user_id)
        .order_by(LedgerEntry.id.desc()).limit(limit)
    ))


def ledger_sum(session: Session, user_id: int) -> int:
    value = session.scalar(select(func.sum(LedgerEntry.amount))
                           .where(LedgerEntry.user_id == user_id))
    return int(value or 0)


def mismatches(session: Session) -> list[tuple[int, int, int]]:
    """(user_id, balance, ledger sum) for every wallet whose balance differs from its ledger."""
    sums = (select(LedgerEntry.user_id, func.sum(LedgerEntry.amount).label("total"))
            .group_by(LedgerEntry.user_id).subquery())
    rows = session.execute(
        select(Wallet.user_id, Wallet.balance, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.user_id == Wallet.user_id)
        .where(Wallet.balance != func.coalesce(sums.c.total, 0))
    )
    return [(int(u), int(b), int(t)) for u, b, t in rows]
