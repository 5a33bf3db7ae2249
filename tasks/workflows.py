"""The workflows members start, readable in one place.

Daily gift (🎁)::

    [users.register →] gifts.claim
        ══(outbox: gift.claimed [+ level.up])══▶
            group(missions.progress, achievements.check, notify.member)
    missions.progress
        ══(mission.completed [+ level.up])══▶ group(achievements.check, notify.member)
    achievements.check
        ══(achievement.unlocked [+ level.up])══▶ group(achievements.check, notify.member)
    notify.member ─▶ tasks.telegram.deliver (limited, once per event)

`level.up` is recorded by the wallet in the transaction of any earned credit that crosses
a level threshold; it is announced like every other event.

The other economy workflows have the same shape — one task, one transaction that commits
the change and its event, then the subscribers::

    store.purchase (🛍️)      ══(item.purchased | item.purchase_refused)══▶ …
    recipes.craft (⚗️)       ══(item.crafted | item.craft_refused)══▶ …
    auctions.bid (🔨)        ══(auction.bid_placed [+ auction.outbid] | auction.bid_refused)══▶ …
    auctions.close_due (beat) ══(auction.won + auction.closed | auction.unsold)══▶ …
    trivia.play (🧠)         → telegram.deliver(sendPoll), then the poll id is recorded
    trivia.answer (poll_answer) ══(trivia.answered [+ level.up])══▶ …
    reactions.reward (💋)    ══(reaction.rewarded [+ level.up])══▶ … [→ reactions.toast]
    content.reload (/recargar) ══(content.reloaded | …_failed | …_refused)══▶ notify.member;
        every process follows the Redis content generation within CONTENT_CHECK_INTERVAL

The link from a step to the group that reacts to it is the transactional outbox, not a
chain link held only in the broker: the claim commits its event with the money, and the
event is published right after the commit or, if the broker was down, by the relay. Each
branch finishes on its own (no chord, no result backend): every reward is announced by its
own message. See `tasks/events.py` for publishing and DESIGN.md for why.

The story (📖) is a chain, each link idempotent on its own (tasks/story.py)::

    story.take (validate + pay) | story.jump (checkpoint, lore combined)
        → story.move (MongoDB, one move per step) → story.settle
        ══(story.choice_made, story.fragment_read, story.milestone, story.mission_progress
           [+ level.up, achievement.unlocked] | story.choice_refused)══▶
            group(missions.progress, achievements.check, notify.member: the new page)
    reactions.reward ══(reaction.rewarded)══▶ story.reaction_hint ══(story.lore_found)══▶ …

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
