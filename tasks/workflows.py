"""The workflows members start, readable in one place.

Daily gift (🎁)::

    [users.register →] gifts.claim
        ══(outbox: gift.claimed)══▶ group(missions.progress, achievements.check, notify.member)
    missions.progress
        ══(mission.completed)══▶ group(achievements.check, notify.member)
    achievements.check
        ══(achievement.unlocked)══▶ notify.member
    notify.member ─▶ tasks.telegram.deliver (limited, once per event)

The link from a step to the group that reacts to it is the transactional outbox, not a
chain link held only in the broker: the claim commits its event with the money, and the
event is published right after the commit or, if the broker was down, by the relay. Each
branch finishes on its own (no chord, no result backend): every reward is announced by its
own message. See `tasks/events.py` for publishing and DESIGN.md for why.

Start (/start)::

    users.register → telegram.send(main menu)
"""

from __future__ import annotations

from typing import Any

from celery import chain
from celery.canvas import Signature

from services import messages
from tasks import gifts, telegram, users


def start_member(user_id: int, profile: dict[str, Any], language: str, key: str) -> Signature:
    """Register (or refresh) the member, then show the welcome menu."""
    menu = messages.main_menu(language, welcome=True)
    return chain(
        users.register.si(user_id, profile).set(kwargsrepr=users.HIDDEN_PROFILE,
                                                 argsrepr=f"({user_id}, <profile>)"),
        telegram.send.si(key, user_id, "sendMessage", menu.params(user_id)),
    )


def daily_gift(user_id: int, request_key: str) -> Signature:
    """Claim today's gift; the claim's event starts missions, achievements and the message."""
    return gifts.claim.si(user_id, request_key)
