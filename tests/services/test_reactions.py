"""Reaction rewards with the real database: once per member and post (both ways in), the
per-member rate limit, unknown posts and unregistered members ignored, races."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models.db import read_session, unit_of_work
from models.tables import LedgerEntry, OutboxEvent, ReactionReward
from services import messages, reactions, wallet
from services.messages import reactions as reaction_messages

CHANNEL = -1001234500000
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def post(user_id: int, n: int = 0, chat_id: int = CHANNEL, ref: str | None = None) -> int:
    """Register a post no other test uses; returns its message id."""
    message_id = user_id * 100 + n
    with unit_of_work() as session:
        reactions.register_post(session, chat_id, message_id, source="test", ref=ref)
    return message_id


def react(user_id: int, message_id: int, *, via: str = "reaction", chat_id: int = CHANNEL,
          ref: str | None = None, now: datetime | None = None) -> reactions.RewardOutcome:
    with unit_of_work() as session:
        return reactions.reward(session, chat_id, message_id, user_id, via=via, ref=ref,
                                now=now)


def books(user_id: int) -> tuple[int, int, int]:
    """(balance, ledger sum, paid reaction rows)."""
    with read_session() as session:
        rows = len(session.scalars(select(ReactionReward)
                                   .where(ReactionReward.user_id == user_id)).all())
        return wallet.balance(session, user_id), wallet.ledger_sum(session, user_id), rows


def test_register_post_is_idempotent_and_keeps_the_first_row(user_id: int) -> None:
    with unit_of_work() as session:
        first = reactions.register_post(session, CHANNEL, user_id, source="scheduled", ref="p1")
    with unit_of_work() as session:
        again = reactions.register_post(session, CHANNEL, user_id, source="manual", ref="p2")
        assert (again.id, again.source, again.ref) == (first.id, "scheduled", "p1")
    with pytest.raises(ValueError), unit_of_work() as session:
        reactions.register_post(session, CHANNEL, user_id + 1, ref="not a ref!")


def test_reaction_keyboard_builds_short_button_data() -> None:
    ref = "post-2026-03-10_" + "A" * 16  # the longest ref: 32 characters
    keyboard = reactions.reaction_keyboard(ref, ("❤️", "🔥", "💋"))
    buttons = keyboard["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["❤️", "🔥", "💋"]
    assert [b["callback_data"] for b in buttons] == [f"r:{ref}:{n}" for n in range(3)]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    with pytest.raises(ValueError):
        reactions.reaction_keyboard("x" * 33)
    with pytest.raises(ValueError):
        reactions.reaction_keyboard("ok", ["❤️"] * 11)


def test_a_reaction_pays_once_and_records_the_event(registered: int) -> None:
    message_id = post(registered)
    first = react(registered, message_id)
    assert (first.status, first.besitos, first.balance) == ("rewarded", 1, 1)
    assert [e.type for e in first.events] == ["reaction.rewarded"]
    payload = first.events[0].payload
    assert payload == {"user_id": registered, "chat_id": CHANNEL, "message_id": message_id,
                       "besitos": 1, "balance": 1, "via": "reaction", "lang": "es"}
    again = react(registered, message_id)  # removed and added again, or redelivered
    assert (again.status, again.besitos, again.balance) == ("already", 0, 1)
    assert [e.id for e in again.events] == [first.events[0].id]  # unpublished: publish again
    with unit_of_work() as session:
        session.get(OutboxEvent, first.events[0].id).published_at = NOON  # type: ignore[union-attr]
    assert react(registered, message_id).events == []  # published: nothing more to send
    assert books(registered) == (1, 1, 1)
    with read_session() as session:
        keys = session.scalars(select(LedgerEntry.idempotency_key)
                               .where(LedgerEntry.user_id == registered)).all()
    assert keys == [f"reaction:{CHANNEL}:{message_id}:{registered}"]


def test_both_ways_in_pay_once_per_post(registered: int) -> None:
    group = -1009876500000
    message_id = post(registered, chat_id=group, ref="g1")
    assert react(registered, message_id, via="button", chat_id=group, ref="g1").paid
    assert react(registered, message_id, via="reaction", chat_id=group).status == "already"
    assert react(registered, message_id, via="button", chat_id=group, ref="g1").status == \
        "already"
    other = post(registered, 1, chat_id=group)  # another post pays again
    assert react(registered, other, via="reaction", chat_id=group).paid
    assert books(registered) == (2, 2, 2)


def test_the_rate_limit_counts_paid_reactions_of_the_last_minute(registered: int) -> None:
    posts = [post(registered, n) for n in range(32)]
    for n in range(30):  # 30 in 30 seconds: all paid
        assert react(registered, posts[n], now=NOON + timedelta(seconds=n)).paid
    limited = react(registered, posts[30], now=NOON + timedelta(seconds=30))
    assert (limited.status, limited.besitos, limited.events) == ("limited", 0, [])
    assert books(registered) == (30, 30, 30)
    # The minute slides: at 60.5 s the first reaction (at 0 s) has left the window.
    later = react(registered, posts[30], now=NOON + timedelta(seconds=60.5))
    assert later.paid  # the limited post was not marked: it pays now
    assert react(registered, posts[31], now=NOON + timedelta(seconds=60.6)).status == "limited"
    assert react(registered, posts[31], now=NOON + timedelta(seconds=61.5)).paid
    assert books(registered) == (32, 32, 32)


def test_unknown_posts_and_stale_buttons_pay_nothing(registered: int) -> None:
    message_id = post(registered, ref="real")
    assert react(registered, registered * 100 + 99).status == "unknown_post"
    assert react(registered, message_id, chat_id=-1005555500000).status == "unknown_post"
    stale = react(registered, message_id, via="button", ref="other")
    assert (stale.status, stale.events) == ("unknown_post", [])
    assert books(registered) == (0, 0, 0)


def test_unregistered_members_are_ignored(user_id: int, new_user_id) -> None:  # type: ignore[no-untyped-def]
    message_id = post(new_user_id())
    outcome = react(user_id, message_id)
    assert (outcome.status, outcome.besitos, outcome.events, outcome.lang) == \
        ("not_registered", 0, [], None)
    with read_session() as session:
        assert session.scalars(select(ReactionReward)
                               .where(ReactionReward.user_id == user_id)).all() == []


def test_racing_rewards_for_one_post_pay_once(registered: int) -> None:
    message_id = post(registered)
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def go(via: str) -> None:
        barrier.wait()
        try:
            results.append(react(registered, message_id, via=via).status)
        except BaseException as exc:  # a unique-key race would show up here
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(via,))
               for via in ("reaction", "button", "reaction", "button")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == ["already", "already", "already", "rewarded"]
    assert books(registered) == (1, 1, 1)


def test_limited_notice_is_recorded_once_per_request(registered: int) -> None:
    with unit_of_work() as session:
        first = reactions.limited_notice(session, registered, f"upd:{registered}:1")
    with unit_of_work() as session:
        again = reactions.limited_notice(session, registered, f"upd:{registered}:1")
    assert [e.id for e in again] == [e.id for e in first]
    assert first[0].payload == {"user_id": registered, "per_minute": 30, "lang": "es"}
    rendered = messages.for_event(first[0].as_message())
    assert rendered is not None and "30 por minuto" in rendered.text


def test_a_paid_reaction_sends_no_private_message_and_buttons_get_a_toast() -> None:
    assert "reaction.rewarded" not in messages.rendered_types()
    outcome = {"status": "rewarded", "besitos": 1, "user_id": 1}
    assert reaction_messages.toast("es", outcome) == "+1 besito 💋"
    assert reaction_messages.toast("en", {**outcome, "besitos": 2}) == "+2 besitos 💋"
    assert "Ya reaccionaste" in reaction_messages.toast("es", {"status": "already"})
    assert "/start" in reaction_messages.toast("es", {"status": "not_registered"})
    assert reaction_messages.toast("es", {"status": "???"}) == \
        messages.t("es", "reaction.toast.unknown")
