"""Daily gift rules: once per local day, streaks, bonus, VIP multiplier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.settings import get_settings
from models.db import read_session, unit_of_work
from models.tables import User
from services import gifts, users, wallet

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def claim(user_id: int, key: str, now: datetime) -> gifts.GiftOutcome:
    with unit_of_work() as session:
        return gifts.claim(session, user_id, key, now=now)


def test_first_claim_pays_base_and_records_event(registered: int) -> None:
    outcome = claim(registered, "r1", NOON)
    assert (outcome.status, outcome.amount, outcome.streak) == ("claimed", 10, 1)
    assert [e.type for e in outcome.events] == ["gift.claimed"]
    assert outcome.events[0].payload["claims_total"] == 1
    assert "name" not in str(outcome.events[0].payload)


def test_second_claim_same_day_is_denied_once_per_request(registered: int) -> None:
    claim(registered, "r1", NOON)
    denied = claim(registered, "r2", NOON + timedelta(hours=3))
    assert denied.status == "already_claimed"
    assert [e.type for e in denied.events] == ["gift.denied"]
    again = claim(registered, "r2", NOON + timedelta(hours=3))
    assert again.events[0].id == denied.events[0].id  # the same request: same event
    with read_session() as session:
        assert wallet.balance(session, registered) == 10


def test_redelivered_request_changes_nothing(registered: int) -> None:
    first = claim(registered, "same", NOON)
    second = claim(registered, "same", NOON)
    assert second.status == "claimed" and second.amount == first.amount
    with read_session() as session:
        assert wallet.balance(session, registered) == 10
        assert wallet.ledger_sum(session, registered) == 10


def test_streak_grows_on_consecutive_days_and_resets_after_a_gap(registered: int) -> None:
    s = get_settings()
    amounts = [claim(registered, f"d{day}", NOON + timedelta(days=day)).amount
               for day in range(4)]
    assert amounts == [s.gift_base + n * s.gift_streak_bonus for n in range(4)]
    after_gap = claim(registered, "gap", NOON + timedelta(days=5))
    assert (after_gap.streak, after_gap.amount) == (1, s.gift_base)


def test_streak_bonus_is_capped(registered: int) -> None:
    s = get_settings()
    last = None
    for day in range(s.gift_streak_bonus_max_days + 4):
        last = claim(registered, f"d{day}", NOON + timedelta(days=day))
    assert last is not None
    assert last.amount == s.gift_base + s.gift_streak_bonus_max_days * s.gift_streak_bonus


def test_day_boundary_follows_configured_time_zone(registered: int) -> None:
    # Europe/Madrid is UTC+1 in March: 23:30 UTC is already the next local day.
    late = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)
    claim(registered, "a", late)
    assert claim(registered, "b", late + timedelta(minutes=40)).status == "claimed"
    assert claim(registered, "c", late + timedelta(minutes=50)).status == "already_claimed"


def test_vip_multiplier(registered: int) -> None:
    with unit_of_work() as session:
        session.get(User, registered).vip_until = NOON + timedelta(days=30)  # type: ignore[union-attr]
    outcome = claim(registered, "vip", NOON)
    assert outcome.amount == int(get_settings().gift_base * get_settings().gift_vip_multiplier)


def test_unregistered_member_cannot_claim(user_id: int) -> None:
    with pytest.raises(users.NotRegistered):
        claim(user_id, "x", NOON)
