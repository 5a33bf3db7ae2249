"""Soak run: minutes of mixed traffic through the real bot under crash faults (workers and
Redis SIGKILLed, the broker flushed); then the books, the actions and the messages are checked.

    python -m bench.soak --minutes 12          (make soak: 7 actions/s, ~5,000 actions)

The run starts its own stack (bench/stack.py: Redis, the MongoDB-protocol server, SQLite, the
Telegram stand-in) plus two workers, beat and the real bot polling the stand-in. A pool of
members (registered and funded directly, with a menu message in each chat) sends real
Telegram updates through the stand-in at a steady rate: /start, the 🎁 gift button, a 🛍️
purchase, a 🔨 bid, a 💋 reaction button under a channel post, a 📖 story choice (/historia,
then a choice on the page the bot sent) and a 🧠 trivia question answered (t:play, then a vote
on the quiz poll). One member has at most one action in flight. The faults, none of them polite:
at 1/5 of the run a worker is SIGKILLed (its whole process group) and a replacement started;
at 2/5 another worker's main process alone is SIGKILLed (its pool children orphaned) and a
replacement started; at 3/5 Redis is SIGKILLed and started again a few seconds later on the
same port and AOF data (`appendfsync everysec`: its last second may be gone); at 4/5 the
broker's database is flushed (FLUSHDB). What the broker lost, SQL re-drives: accepted
commands and unhandled events (tasks/events.py `relay`).

Every action has the effect it must leave, by its key (`upd:<user>:<update>` for a message,
`cb:<callback query id>` for a press):

- committed: the decision's row or outbox event (`gift.claimed` / `gift.denied:cb:…`,
  `item.purchased:` / `item.purchase_refused:`, `auction.bid_placed:` / `auction.bid_refused:`,
  a `reaction_rewards` row, `story.choice_made:<user>:<step>` / `story.choice_refused:`,
  `trivia.answered:<question>:<user>` / `trivia.play_refused:`; /start: the member's row);
- notified: the member was told — the delivery of each rendered event (`event:<id>`) or of
  the welcome menu (`upd:…`) is `sent` in `deliveries`, the reaction's toast answered the
  press at the stand-in.

An action is lost when it is not both. After the traffic the run waits until nothing is
missing, no command is pending, no event unhandled and the stand-in has been quiet, at most
`--drain-timeout`; then it prints and writes bench/SOAK.md:
actions sent / committed / notified / lost per kind, balances ≠ ledger sum (one statement
over every wallet), duplicate notifications (per chat, messages the stand-in received beyond
the sent deliveries; and per chat, once-only texts — gift claimed, mission completed,
achievement unlocked — received more than once), dead letters, and PASS or FAIL (exit 1).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.procs import Proc, celery_worker, wait_until

SOAK_MD = Path(__file__).resolve().parent / "SOAK.md"
KINDS = ("start", "gift", "purchase", "bid", "reaction", "story", "trivia")
WEIGHTS = {"start": 1, "gift": 2, "purchase": 2, "bid": 2, "reaction": 3, "story": 1,
           "trivia": 1}
FIRST_MEMBER = 7_100_000_001
CHANNEL = -1_009_200_000_001
ITEM = "rosa-roja"  # unlimited stock, 20 besitos
FUNDS = 5000
BIDDERS_PER_AUCTION = 20
POSTS = 30
WAIT_STEP = 90.0  # seconds a multi-step action waits for the bot's answer
# Texts a member receives at most once (per day): seeing one twice is a duplicate.
ONCE_ONLY = ("¡Regalo reclamado!", "Misión completada", "Logro desbloqueado")
# Messages the bot sends itself (not through the workers' deliveries) when Redis is down.
BOT_DIRECT = ("⏳ Recibido.", "Ahora mismo no puedo hacer eso", "⏳ Received.",
              "I cannot do that right now")


@dataclass
class Action:
    kind: str
    user_id: int
    at: float
    key: str = ""  # the request key: upd:<user>:<update id> or cb:<callback query id>
    query_id: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    skipped: str = ""  # a prerequisite the bot never gave (counted as lost)


@dataclass
class Figures:
    members: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    committed: Counter[str] = field(default_factory=Counter)
    notified: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    lost_examples: list[str] = field(default_factory=list)
    mismatched_wallets: int = 0
    wallets: int = 0
    dup_deliveries: int = 0
    dup_texts: int = 0
    dup_examples: list[str] = field(default_factory=list)
    sent_not_received: int = 0
    member_events: int = 0  # events of the run rendered as a message to a member
    events_untold: list[str] = field(default_factory=list)  # … whose message was not sent
    visibility_timeout: int = 0
    dead_letters: int = 0
    pending_commands: int = 0
    unhandled_events: int = 0
    standin: dict[str, Any] = field(default_factory=dict)
    timeline: list[str] = field(default_factory=list)
    traffic_s: float = 0.0
    drain_s: float = 0.0
    messages: int = 0

    @property
    def total_lost(self) -> int:
        return sum(self.lost.values())

    @property
    def passed(self) -> bool:
        return (self.total_lost == 0 and self.mismatched_wallets == 0
                and self.dup_deliveries == 0 and self.dup_texts == 0
                and self.dead_letters == 0 and not self.events_untold
                and sum(self.sent.values()) > 0)


# ------------------------------------------------------------------------------ set-up
def _bot_api(standin_url: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    from core.settings import get_settings

    response = httpx.post(f"{standin_url}/bot{get_settings().bot_token}/{method}",
                          json=params, timeout=10)
    response.raise_for_status()
    return dict(response.json()["result"])


def prepare(standin_url: str, members: list[int]) -> tuple[dict[int, int], list[int],
                                                           list[tuple[str, int]]]:
    """Register and fund the members, put a menu in each chat (as /start leaves one), open
    one auction per 20 members and post reaction buttons in a channel.
    Returns (menu message id per member, auction ids, (ref, message id) per post)."""
    from sqlalchemy import update

    from bench.gifts import register_members
    from dev.standin.client import StandinClient
    from models.db import unit_of_work
    from models.tables import OutboxEvent
    from services import auctions, messages, reactions, wallet

    register_members(members)
    with unit_of_work() as session:
        for uid in members:
            wallet.credit(session, uid, FUNDS, reason="soak", key=f"soak-fund:{uid}",
                          earned=False)
    menus = {uid: int(_bot_api(standin_url, "sendMessage",
                               messages.main_menu("es").params(uid))["message_id"])
             for uid in members}
    with unit_of_work() as session:
        auction_ids = [auctions.create(session, actor_id=None, item_id=ITEM, start_price=10,
                                       min_increment=5, minutes=24 * 60,
                                       request_key=f"soak-auction:{members[0]}:{n}",
                                       console=True).auction_id
                       for n in range(0, len(members), BIDDERS_PER_AUCTION)]
    with StandinClient(standin_url) as client:  # the stand-in learns the channel's type
        client.inject_update({"channel_post": {
            "message_id": 1, "date": int(time.time()), "text": "👋",
            "chat": {"id": CHANNEL, "type": "channel", "title": "Canal soak"}}})
    posts = []
    for j in range(POSTS):
        ref = f"soak{j}"
        sent = _bot_api(standin_url, "sendMessage", {
            "chat_id": CHANNEL, "text": f"📸 Publicación {j}",
            "reply_markup": reactions.reaction_keyboard(ref)})
        posts.append((ref, int(sent["message_id"])))
    with unit_of_work() as session:
        for ref, message_id in posts:
            reactions.register_post(session, CHANNEL, message_id, source="soak", ref=ref)
        # the set-up's events (registrations, auctions) are not the soak's: the relay
        # must not deliver them in the middle of the traffic
        now = datetime.now(UTC)
        session.execute(update(OutboxEvent).where(OutboxEvent.handled_at.is_(None))
                        .values(published_at=now, handled_at=now))
    return menus, auction_ids, posts


# ------------------------------------------------------------------------------ traffic
class Driver:
    """Injects the actions (one in flight per member) and remembers what each must leave."""

    def __init__(self, standin_url: str, members: list[int], menus: dict[int, int],
                 auction_ids: list[int], posts: list[tuple[str, int]], seed: int) -> None:
        self.standin_url = standin_url
        self.members = members
        self.menus = menus
        self.auction_ids = auction_ids
        self.posts = posts
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.idle = set(members)
        self.actions: list[Action] = []
        self.errors: list[str] = []
        self.bids: Counter[int] = Counter()
        self.local = threading.local()
        self.kinds = [k for k in KINDS for _ in range(WEIGHTS[k])]

    def client(self) -> Any:
        from dev.standin.client import StandinClient

        if not hasattr(self.local, "client"):
            self.local.client = StandinClient(self.standin_url, timeout=30)
        return self.local.client

    def pick(self) -> tuple[str, int] | None:
        with self.lock:
            if not self.idle:
                return None
            uid = self.random.choice(sorted(self.idle))
            self.idle.discard(uid)
            return self.random.choice(self.kinds), uid

    def run_one(self, kind: str, uid: int) -> None:
        action = Action(kind, uid, time.time())
        try:
            getattr(self, f"do_{kind}")(action)
        except Exception as exc:  # noqa: BLE001 - an injection refused: counted, not fatal
            with self.lock:
                self.errors.append(f"{kind} {uid}: {type(exc).__name__}: {exc}")
            return
        finally:
            with self.lock:
                self.idle.add(uid)
        if action.key or action.skipped:
            with self.lock:
                self.actions.append(action)

    def _press(self, action: Action, data: str, message_id: int | None = None, *,
               chat_id: int | None = None, force: bool = True) -> None:
        update = self.client().press(action.user_id, data,
                                     message_id or self.menus[action.user_id],
                                     chat_id=chat_id, force=force)
        action.query_id = str(update["callback_query"]["id"])
        action.key = f"cb:{action.query_id}"

    def do_start(self, action: Action) -> None:
        update = self.client().inject_message(action.user_id, "/start",
                                              first_name=f"Soak {action.user_id % 1000}",
                                              language_code="es")
        action.key = f"upd:{action.user_id}:{update['update_id']}"

    def do_gift(self, action: Action) -> None:
        self._press(action, "m:gift", force=False)

    def do_purchase(self, action: Action) -> None:
        self._press(action, f"s:buy:{ITEM}")

    def do_bid(self, action: Action) -> None:
        index = self.members.index(action.user_id) // BIDDERS_PER_AUCTION
        auction = self.auction_ids[index]
        with self.lock:  # rising amounts; arriving out of order, some are refused
            amount = 10 + 5 * self.bids[auction]
            self.bids[auction] += 1
        action.info.update(auction=auction, amount=amount)
        self._press(action, f"a:bid:{auction}:{amount}")

    def do_reaction(self, action: Action) -> None:
        ref, message_id = self.random.choice(self.posts)
        action.info.update(message_id=message_id)
        self._press(action, f"r:{ref}:{self.random.randrange(3)}", message_id,
                    chat_id=CHANNEL, force=False)

    def do_story(self, action: Action) -> None:
        """/historia, then the first choice on the page the bot sent; waits for the choice to
        be decided, so the member's next story action sees the page it led to."""
        client = self.client()
        uid = action.user_id
        mark = client.mark()
        update = client.inject_message(uid, "/historia")
        action.info["view"] = f"upd:{uid}:{update['update_id']}"
        try:
            page = client.wait_for(lambda r: _story_choices(r), timeout=WAIT_STEP,
                                   chat_id=uid, since=mark, interval=0.5)
        except TimeoutError:
            action.skipped = "no story page"
            return
        data = _story_choices(page)[0]
        action.info["step"] = int(data.split(":")[3])
        self._press(action, data, int(page["result"]["message_id"]), force=False)
        _wait_quietly(lambda: bool(self.committed_ids(action)), WAIT_STEP)

    def do_trivia(self, action: Action) -> None:
        """t:play, then a vote on the quiz poll the worker sent (right or wrong at random);
        waits for the answer to be judged."""
        from sqlalchemy import select

        from models.db import read_session
        from models.tables import OutboxEvent, TriviaPoll
        from services import content

        self._press(action, "t:play")
        refused = f"trivia.play_refused:{action.key}"

        def poll() -> tuple[str, str] | None | bool:
            with read_session() as session:
                row = session.scalars(select(TriviaPoll).where(
                    TriviaPoll.delivery_key == f"trivia:{action.key}")).one_or_none()
                if row is not None and row.poll_id:
                    return row.poll_id, row.question_id
                return session.get(OutboxEvent, refused) is not None

        found: Any = None

        def ready() -> bool:
            nonlocal found
            found = poll()
            return bool(found)

        if not _wait_quietly(ready, WAIT_STEP) or found is True:
            return  # refused (committed), or never sent (lost: found by the check)
        poll_id, question_id = found
        question = content.trivia_question(question_id)
        assert question is not None
        right = self.random.random() < 0.7
        option = question.correct if right else (question.correct + 1) % len(question.options)
        action.info.update(question=question_id, poll_id=poll_id)
        try:
            self.client().answer_poll(action.user_id, poll_id, [option])
        except Exception as exc:  # noqa: BLE001 - Telegram refused the vote (poll closed)
            action.info["vote_refused"] = str(exc)
            return
        action.info["voted"] = True
        _wait_quietly(lambda: bool(self.committed_ids(action)), WAIT_STEP)

    # -- what an action must leave ------------------------------------------------------
    def committed_ids(self, action: Action) -> list[str]:
        from models.db import read_session

        with read_session() as session:
            return Check(session, [action]).committed(action)


def _story_choices(record: dict[str, Any]) -> list[str]:
    markup = record.get("params", {}).get("reply_markup") or {}
    if isinstance(markup, str):
        return []
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
            if str(b.get("callback_data", "")).startswith("p:")]


def _wait_quietly(predicate: Callable[[], bool], timeout: float) -> bool:
    try:
        wait_until(predicate, timeout, interval=0.5)
        return True
    except TimeoutError:
        return False


class Check:
    """The rows and events that say what became of the actions (read once per check)."""

    def __init__(self, session: Any, actions: list[Action]) -> None:
        from sqlalchemy import select

        from models.tables import GiftClaim, OutboxEvent, ReactionReward, User

        self.session = session
        wanted = set()
        for action in actions:
            wanted.update(_candidates(action))
        self.events: dict[str, str] = {}
        ids = sorted(wanted)
        for start in range(0, len(ids), 900):
            for event_id, event_type in session.execute(
                    select(OutboxEvent.id, OutboxEvent.type)
                    .where(OutboxEvent.id.in_(ids[start:start + 900]))):
                self.events[event_id] = event_type
        users = sorted({a.user_id for a in actions})
        self.claims: dict[str, str] = {}
        self.rewards: set[tuple[int, int]] = set()
        self.registered: set[int] = set()
        for start in range(0, len(users), 900):
            chunk = users[start:start + 900]
            for key, uid, day in session.execute(
                    select(GiftClaim.request_key, GiftClaim.user_id, GiftClaim.day)
                    .where(GiftClaim.user_id.in_(chunk))):
                self.claims[key] = f"gift.claimed:{uid}:{day.isoformat()}"
            for message_id, uid in session.execute(
                    select(ReactionReward.message_id, ReactionReward.user_id)
                    .where(ReactionReward.chat_id == CHANNEL,
                           ReactionReward.user_id.in_(chunk))):
                self.rewards.add((int(message_id), int(uid)))
            self.registered.update(session.scalars(select(User.id).where(User.id.in_(chunk))))
        self._deliveries: dict[str, str] | None = None

    @property
    def deliveries(self) -> dict[str, str]:
        from sqlalchemy import select

        from models.tables import Delivery

        if self._deliveries is None:
            self._deliveries = dict(self.session.execute(
                select(Delivery.key, Delivery.status)).all())
        return self._deliveries

    def committed(self, action: Action) -> list[str]:
        """The events (or rows, named like events) that record the action's decision."""
        kind, key = action.kind, action.key
        if kind == "start":
            return [f"member:{action.user_id}"] if action.user_id in self.registered else []
        if kind == "reaction":
            if (action.info["message_id"], action.user_id) in self.rewards:
                return [f"reaction:{action.info['message_id']}:{action.user_id}"]
            limited = f"reaction.limited:{key}"[:200]
            return [limited] if limited in self.events else []
        if kind == "gift":
            if key in self.claims:
                return [self.claims[key]]
        if kind == "story" and "step" in action.info:
            made = f"story.choice_made:{action.user_id}:{action.info['step']}"
            if made in self.events:
                return [made, f"story.fragment_read:{action.user_id}:{action.info['step'] + 1}"]
        if kind == "trivia" and action.info.get("voted"):
            answered = f"trivia.answered:{action.info['question']}:{action.user_id}"
            return [answered] if answered in self.events else []
        return [e for e in _candidates(action) if e in self.events]

    def notified(self, action: Action, answered: set[str]) -> bool:
        from services import messages

        if action.kind == "start":
            return self.deliveries.get(action.key) == "sent"
        if action.kind == "reaction":
            return action.query_id in answered
        rendered = set(messages.rendered_types())
        told = [e for e in self.committed(action)
                if e.split(":", 1)[0] in rendered and e in self.events]
        if action.kind == "trivia" and action.info.get("voted"):
            # the poll itself was a delivery too
            if self.deliveries.get(f"trivia:{action.key}") != "sent":
                return False
        return all(self.deliveries.get(f"event:{e}") == "sent" for e in told)


def _candidates(action: Action) -> list[str]:
    key = action.key
    if not key:
        return []
    return {
        "gift": [f"gift.denied:{key}"],
        "purchase": [f"item.purchased:{key}", f"item.purchase_refused:{key}"],
        "bid": [f"auction.bid_placed:{key}", f"auction.bid_refused:{key}"],
        "reaction": [f"reaction.limited:{key}"[:200]],
        "story": [f"story.choice_refused:{key}",
                  *([f"story.choice_made:{action.user_id}:{action.info['step']}",
                     f"story.fragment_read:{action.user_id}:{action.info['step'] + 1}"]
                    if "step" in action.info else [])],
        "trivia": [f"trivia.play_refused:{key}",
                   *([f"trivia.answered:{action.info['question']}:{action.user_id}"]
                     if "question" in action.info else [])],
    }.get(action.kind, [])


# ------------------------------------------------------------------------------ records
class Recorder(threading.Thread):
    """Copies the stand-in's records as they come (it keeps only the latest 10,000)."""

    def __init__(self, standin_url: str, since: int) -> None:
        super().__init__(daemon=True, name="soak-recorder")
        from dev.standin.client import StandinClient

        self.client = StandinClient(standin_url, timeout=30)
        self.since = since
        self.records: list[dict[str, Any]] = []
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.last_change = time.monotonic()

    def fetch(self) -> None:
        new = self.client.sent(since=self.since)
        if new:
            with self.lock:
                self.records.extend(new)
                self.since = new[-1]["id"]
                self.last_change = time.monotonic()

    def run(self) -> None:
        while not self.halt.wait(1.0):
            try:
                self.fetch()
            except Exception:  # noqa: BLE001 - the next round tries again
                pass

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.records)


# ------------------------------------------------------------------------------ the run
def _event_dict(event_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "type": event_id.split(":", 1)[0], "payload": payload}


def evaluate(actions: list[Action], records: list[dict[str, Any]], members: list[int],
             figures: Figures, since: datetime) -> None:
    from sqlalchemy import func, select

    from models.db import read_session
    from models.tables import (
        Command,
        DeadLetter,
        Delivery,
        LedgerEntry,
        OutboxEvent,
        Wallet,
    )
    from services import messages

    answered = {str(r["params"].get("callback_query_id")) for r in records
                if r["method"] == "answerCallbackQuery"}
    figures.sent, figures.committed = Counter(), Counter()
    figures.notified, figures.lost = Counter(), Counter()
    figures.lost_examples = []
    member_set = set(members)
    with read_session() as session:
        check = Check(session, actions)
        for action in actions:
            figures.sent[action.kind] += 1
            committed = bool(check.committed(action)) if not action.skipped else False
            notified = committed and check.notified(action, answered)
            figures.committed[action.kind] += committed
            figures.notified[action.kind] += notified
            if not notified:
                figures.lost[action.kind] += 1
                if len(figures.lost_examples) < 10:
                    figures.lost_examples.append(
                        f"{action.kind} {action.user_id} {action.key} {action.skipped} "
                        f"committed={committed} {action.info}")
        ledger = (select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                  .where(LedgerEntry.user_id == Wallet.user_id).correlate(Wallet)
                  .scalar_subquery())
        rows = session.execute(select(Wallet.user_id, Wallet.balance, ledger)).all()
        figures.wallets = len(rows)
        figures.mismatched_wallets = sum(int(b) != int(s) for _, b, s in rows)
        figures.dead_letters = int(session.scalar(select(func.count(DeadLetter.id))) or 0)
        figures.pending_commands = int(session.scalar(
            select(func.count(Command.id)).where(Command.state == "accepted")) or 0)
        figures.unhandled_events = int(session.scalar(
            select(func.count(OutboxEvent.id)).where(OutboxEvent.handled_at.is_(None))) or 0)
        sent_per_chat = Counter(int(c) for c, in session.execute(
            select(Delivery.chat_id).where(Delivery.status == "sent",
                                           Delivery.chat_id.in_(members),
                                           Delivery.key.not_like("toast:%"))))
        # every event told to a member (missions, achievements, levels, outbids … too)
        rendered = set(messages.rendered_types())
        told = [(event_id, payload) for event_id, event_type, payload in session.execute(
            select(OutboxEvent.id, OutboxEvent.type, OutboxEvent.payload)
            .where(OutboxEvent.created_at >= since)) if event_type in rendered]
        delivered = {key for key, in session.execute(
            select(Delivery.key).where(Delivery.key.like("event:%"),
                                       Delivery.status.in_(("sent", "blocked"))))}
        figures.member_events = 0
        figures.events_untold = []
        for event_id, payload in told:
            if int((payload or {}).get("user_id") or 0) not in member_set:
                continue
            figures.member_events += 1
            if f"event:{event_id}" not in delivered and \
                    messages.for_event(_event_dict(event_id, payload)) is not None:
                figures.events_untold.append(event_id)
    # duplicates: messages a chat received beyond the deliveries recorded as sent for it
    received = Counter()
    texts: Counter[tuple[int, str]] = Counter()
    for record in records:
        if record["method"] == "answerCallbackQuery":
            continue
        chat = record.get("chat_id")
        try:
            chat = int(chat)
        except (TypeError, ValueError):
            continue
        if chat not in member_set:
            continue
        text = str(record["params"].get("text") or record["params"].get("caption") or "")
        if record["method"] == "sendMessage" and any(t in text for t in BOT_DIRECT):
            continue
        received[chat] += 1
        if record["method"] == "sendMessage" and any(t in text for t in ONCE_ONLY):
            texts[(chat, text)] += 1
    figures.messages = sum(received.values())
    figures.dup_deliveries = sum(max(0, received[c] - sent_per_chat[c]) for c in received)
    figures.sent_not_received = sum(max(0, sent_per_chat[c] - received[c])
                                    for c in sent_per_chat)
    figures.dup_texts = sum(n - 1 for n in texts.values() if n > 1)
    figures.dup_examples = [f"chat {c}: {t[:50]!r} × {n}" for (c, t), n in texts.items()
                            if n > 1][:5]
    figures.dup_examples += [f"chat {c}: {received[c]} received, {sent_per_chat[c]} sent"
                             for c in received if received[c] > sent_per_chat[c]][:5]


def run(minutes: float = 12.0, members: int = 300, rate: float = 7.0, seed: int = 7,
        threads: int = 12, drain_timeout: float = 240.0, redis_down: float = 3.0,
        visibility_timeout: int | None = None, keep: bool = False,
        write: bool = True) -> Figures:
    from bench.machine import describe
    from bench.stack import BenchStack

    duration = minutes * 60
    figures = Figures(members=members)
    stack = BenchStack(keep=keep)
    t_begin = time.monotonic()

    def log(text: str) -> None:
        line = f"{time.monotonic() - t_begin:7.1f}s  {text}"
        figures.timeline.append(line)
        print(line, flush=True)

    if visibility_timeout is not None:  # before the stack reads the settings
        os.environ["BROKER_VISIBILITY_TIMEOUT"] = str(visibility_timeout)
        os.environ["BROKER_RESTORE_INTERVAL"] = str(max(1, min(10, visibility_timeout // 4)))
    try:
        stack.start()
        from core.settings import get_settings

        settings = get_settings()
        figures.visibility_timeout = settings.broker_visibility_timeout
        machine = describe(stack.redis.url, stack.mongo.url)
        ids = [FIRST_MEMBER + i for i in range(members)]
        log(f"stack up in {stack.base}; preparing {members} members")
        menus, auction_ids, posts = prepare(stack.standin_url, ids)
        workers = [stack.add(celery_worker(stack.base, f"soak-worker-{n}")) for n in (1, 2)]
        beat = stack.add(Proc("beat", [sys.executable, "-m", "celery", "-A", "worker.app",
                                       "beat", "-l", "INFO", "-s",
                                       str(stack.base / "celerybeat-schedule")], stack.base))
        bot = stack.add(Proc("bot", [sys.executable, "-m", "bot"], stack.base))
        for worker in workers:
            worker.wait_for_log("ready.", timeout=90)
        beat.wait_for_log("beat: Starting", timeout=60)
        bot.wait_for_log("bot ready", timeout=60)
        from dev.standin.client import StandinClient

        control = StandinClient(stack.standin_url)
        recorder = Recorder(stack.standin_url, control.mark())
        recorder.start()
        driver = Driver(stack.standin_url, ids, menus, auction_ids, posts, seed)
        log(f"traffic: {rate:g} actions/s for {duration:.0f}s over {members} members "
            f"({', '.join(KINDS)})")

        def at(fraction: float) -> None:
            time.sleep(max(0.0, duration * fraction - (time.monotonic() - t_traffic)))

        def replace(victim: Proc, name: str) -> None:
            stack.procs.remove(victim)
            workers.remove(victim)
            replacement = stack.add(celery_worker(stack.base, name))
            workers.append(replacement)
            replacement.wait_for_log("ready.", timeout=90)
            log(f"replacement worker {name} ready")

        def faults() -> None:
            # Crash faults, none of them polite; SQL (commands, events) drives what each
            # one loses, the broker's visibility timeout is not waited for.
            at(1 / 5)
            victim = workers[0]
            log(f"SIGKILL {victim.name} (pid {victim.pid}, its whole process group)")
            faulted_at.append(time.monotonic())
            victim.kill()
            replace(victim, "soak-worker-3")
            at(2 / 5)
            victim = workers[0]
            log(f"SIGKILL {victim.name}'s main process only (pid {victim.pid}); its pool "
                f"children are orphaned")
            faulted_at.append(time.monotonic())
            os.kill(victim.pid, signal.SIGKILL)
            orphans.append(victim)
            replace(victim, "soak-worker-4")
            at(3 / 5)
            log(f"SIGKILL Redis; started again {redis_down:g}s later on the same AOF data "
                f"(appendfsync everysec: its last second may be gone)")
            faulted_at.append(time.monotonic())
            stack.redis.kill()
            time.sleep(redis_down)
            stack.redis.start()
            log("Redis started again (same port, same AOF data)")
            at(4 / 5)
            import redis as redis_client

            log("FLUSHDB on the broker's database: every queued and unacknowledged message "
                "gone")
            faulted_at.append(time.monotonic())
            redis_client.Redis.from_url(stack.redis.url).flushdb()

        orphans: list[Proc] = []
        faulted_at: list[float] = []
        t_traffic = time.monotonic()
        since = datetime.now(UTC)
        fault_thread = threading.Thread(target=faults, daemon=True, name="soak-faults")
        fault_thread.start()
        pool = ThreadPoolExecutor(threads, thread_name_prefix="soak-action")
        n, next_print = 0, t_traffic + 30
        while (now := time.monotonic()) - t_traffic < duration:
            due = t_traffic + n / rate
            if due > now:
                time.sleep(min(due - now, 0.5))
                continue
            picked = driver.pick()
            if picked is None:
                time.sleep(0.05)
                continue
            pool.submit(driver.run_one, *picked)
            n += 1
            if now >= next_print:
                log(f"{n} actions injected, {len(driver.errors)} refused injections")
                next_print += 30
        log(f"traffic done: {n} actions; waiting for the multi-step ones")
        pool.shutdown(wait=True)
        fault_thread.join(timeout=120)
        figures.traffic_s = time.monotonic() - t_traffic

        t_drain = time.monotonic()
        # messages taken and not acknowledged by the killed worker, or by the workers that
        # lost Redis, are handed out again after the visibility timeout: wait for that too
        deadline = t_drain + drain_timeout
        log(f"draining (at most {deadline - t_drain:.0f}s)")
        while True:
            recorder.fetch()
            evaluate(driver.actions, recorder.snapshot(), ids, figures, since)
            quiet = time.monotonic() - recorder.last_change
            done = (figures.total_lost == 0 and not figures.events_untold
                    and figures.pending_commands == 0
                    and figures.unhandled_events == 0 and quiet >= 5)
            if done or time.monotonic() > deadline:
                break
            log(f"draining: {figures.total_lost} actions not done yet, "
                f"{len(figures.events_untold)} events not told, "
                f"{figures.pending_commands} pending commands, {figures.unhandled_events} "
                f"unhandled events; stand-in quiet {quiet:.0f}s")
            time.sleep(3)
        figures.drain_s = time.monotonic() - t_drain
        time.sleep(3)  # give a late duplicate every chance to show itself
        recorder.fetch()
        recorder.halt.set()
        evaluate(driver.actions, recorder.snapshot(), ids, figures, since)
        stats = control.stats()
        figures.standin = {k: stats.get(k) for k in ("rejected", "errors", "spec_rejected",
                                                     "too_many_requests", "forced_faults")}
        if driver.errors:
            log(f"{len(driver.errors)} injections the stand-in refused, e.g. "
                f"{driver.errors[:3]}")
        lines = report(figures, minutes, rate, driver.errors)
        print("\n".join(lines), flush=True)
        if write:
            SOAK_MD.write_text(markdown(figures, lines, machine, minutes), encoding="utf-8")
            print(f"written to {SOAK_MD}")
        control.close()
    finally:
        for orphan in orphans:  # what the main process left: its pool children
            orphan.kill()
        stack.close()
    return figures


def report(figures: Figures, minutes: float, rate: float, errors: list[str]) -> list[str]:
    out = ["", f"== Soak: {minutes:g} min of mixed traffic at {rate:g} actions/s, "
           f"{figures.members} members; crash faults: a worker SIGKILLed at 1/5, a worker's main "
           "process SIGKILLed at 2/5, Redis SIGKILLed at 3/5, the broker flushed at 4/5 ==",
           f"  broker visibility timeout {figures.visibility_timeout}s (not waited for: SQL "
           "re-drives what the broker lost)",
           f"  traffic {figures.traffic_s:.0f}s, drain {figures.drain_s:.0f}s; "
           f"{figures.messages} messages received by members",
           "",
           f"  {'action':<10}{'sent':>8}{'committed':>11}{'notified':>10}{'lost':>7}"]
    for kind in KINDS:
        out.append(f"  {kind:<10}{figures.sent[kind]:>8}{figures.committed[kind]:>11}"
                   f"{figures.notified[kind]:>10}{figures.lost[kind]:>7}")
    out.append(f"  {'total':<10}{sum(figures.sent.values()):>8}"
               f"{sum(figures.committed.values()):>11}{sum(figures.notified.values()):>10}"
               f"{figures.total_lost:>7}")
    out += ["",
            f"  actions lost (sent, not committed and notified)   {figures.total_lost}",
            f"  wallets whose balance ≠ ledger sum                {figures.mismatched_wallets}"
            f" of {figures.wallets}",
            f"  duplicate messages (received beyond deliveries)   {figures.dup_deliveries}",
            f"  duplicate once-only texts (gift, mission, badge)  {figures.dup_texts}",
            f"  deliveries sent but not received                  {figures.sent_not_received}",
            f"  member events (all kinds) without their message   "
            f"{len(figures.events_untold)} of {figures.member_events}",
            f"  dead letters                                       {figures.dead_letters}",
            f"  pending commands / unhandled events left           "
            f"{figures.pending_commands} / {figures.unhandled_events}",
            f"  injections refused by the stand-in                 {len(errors)}",
            f"  stand-in: {figures.standin}",
            "", f"  {'PASS' if figures.passed else 'FAIL'}"]
    for example in figures.lost_examples + figures.dup_examples + figures.events_untold[:5]:
        out.append(f"    {example}")
    return out


def markdown(figures: Figures, lines: list[str], machine: dict[str, str],
             minutes: float) -> str:
    out = ["# YABOT soak run\n",
           f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python -m bench.soak --minutes "
           f"{minutes:g}` (`make soak`); this file is overwritten by every run.\n",
           "## Machine\n", *[f"- {k}: {v}" for k, v in machine.items()],
           "", "## Figures", "", "```", *[line.rstrip() for line in lines if line.strip()],
           "```", "", "## Timeline", "", "```", *_compact(figures.timeline), "```"]
    return "\n".join(out) + "\n"


def _compact(timeline: list[str]) -> list[str]:
    """The timeline with each run of `draining:` lines cut to its first and last."""
    out: list[str] = []
    for n, line in enumerate(timeline):
        draining = "draining:" in line
        before = n > 0 and "draining:" in timeline[n - 1]
        after = n + 1 < len(timeline) and "draining:" in timeline[n + 1]
        if draining and before and after:
            if not out[-1].endswith("…"):
                out.append("    …")
            continue
        out.append(line)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=12.0, help="traffic duration")
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--rate", type=float, default=7.0, help="actions per second")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drain-timeout", type=float, default=240.0)
    parser.add_argument("--redis-down", type=float, default=3.0,
                        help="seconds Redis stays down after its SIGKILL")
    parser.add_argument("--visibility-timeout", type=int, default=None,
                        help="BROKER_VISIBILITY_TIMEOUT for the run (default: the project's)")
    parser.add_argument("--keep", action="store_true", help="keep logs and data")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/SOAK.md")
    args = parser.parse_args(argv)
    figures = run(args.minutes, args.members, args.rate, args.seed,
                  drain_timeout=args.drain_timeout, redis_down=args.redis_down,
                  visibility_timeout=args.visibility_timeout,
                  keep=args.keep, write=not args.no_write)
    return 0 if figures.passed else 1


if __name__ == "__main__":
    sys.exit(main())
