"""SQL system of record: members, money, claims, outbox, dead letters, audit, deliveries."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp on every database: SQLite keeps no offset, so values read
    back from it are marked UTC (what we write is always UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime()}


class User(Base):
    """A member. The primary key is the Telegram user id."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(128), default="")
    last_name: Mapped[str | None] = mapped_column(String(128))
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="es")
    role: Mapped[str] = mapped_column(String(16), default="member")
    vip_until: Mapped[datetime | None]
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class Wallet(Base):
    __tablename__ = "wallets"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),
                      Index("ix_wallets_lifetime_earned", "lifetime_earned"))

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_earned: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class LedgerEntry(Base):
    """Append-only: one row per balance change, unique by idempotency key."""

    __tablename__ = "ledger"
    __table_args__ = (Index("ix_ledger_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class GiftClaim(Base):
    __tablename__ = "gift_claims"
    __table_args__ = (UniqueConstraint("user_id", "day", name="uq_gift_claims_user_day"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    day: Mapped[date] = mapped_column(Date)
    streak: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)
    request_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OutboxEvent(Base):
    """A domain event, committed with the change that caused it.

    `published_at` once its subscribers' tasks were sent, `handled_at` once every subscriber
    finished with it (`outbox_handled`). Until then the relay sends it again (only to the
    subscribers that have not finished) whenever `redrive_at` has passed.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "id"),
                      Index("ix_outbox_redrive", "handled_at", "redrive_at"))

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]
    redrive_at: Mapped[datetime | None]
    redrives: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class OutboxHandled(Base):
    """One subscriber finished with one event (or dead-lettered it): written once."""

    __tablename__ = "outbox_handled"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="done")  # done | dead
    at: Mapped[datetime]


class Command(Base):
    """An action a member or an API client asked for, recorded before anyone is told it is
    being worked on: the truth of work. Keyed by the request's key (once per update or
    request). `state` is accepted until the workflow's last step finishes (done / refused)
    or fails for good (failed: a dead letter holds it); the reconciler re-drives accepted
    commands whose `redrive_at` has passed, in the order each member gave them."""

    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_redrive", "state", "redrive_at"),
                      Index("ix_commands_member", "member_id", "created_at"))

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    member_id: Mapped[int | None] = mapped_column(BigInteger)
    task_name: Mapped[str] = mapped_column(String(128))
    signature: Mapped[dict[str, Any]]
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="accepted")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    redrive_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class DeadLetter(Base):
    """A task that failed for good, with what it takes to replay it."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    task_name: Mapped[str] = mapped_column(String(128))
    args: Mapped[dict[str, Any]]
    error: Mapped[str] = mapped_column(Text)
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="dead")
    failed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    replayed_at: Mapped[datetime | None]


class Delivery(Base):
    """One outbound Telegram message, unique by key, so a redelivered send is not repeated."""

    __tablename__ = "deliveries"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_actor", "actor_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(128))
    result: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ApiKey(Base):
    """A REST API key. Only a SHA-256 hash of the key is stored; `prefix` finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class IdempotencyRecord(Base):
    """The first response to a state-changing API request, replayed for its Idempotency-Key.

    `status_code` is NULL while the first request is still being served.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_idempotency_key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ItemStock(Base):
    """Units left of a store item with a limited stock (seeded from content once)."""

    __tablename__ = "item_stock"
    __table_args__ = (CheckConstraint("remaining >= 0", name="stock_not_negative"),)

    item_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    remaining: Mapped[int] = mapped_column(Integer)


class InventoryLine(Base):
    """How many units of an item a member holds (stacked)."""

    __tablename__ = "inventory"
    __table_args__ = (UniqueConstraint("user_id", "item_id", name="uq_inventory_user_item"),
                      CheckConstraint("quantity >= 0", name="quantity_not_negative"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    item_id: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class Purchase(Base):
    """One store purchase, unique by the request that asked for it."""

    __tablename__ = "purchases"
    __table_args__ = (Index("ix_purchases_user_item", "user_id", "item_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    item_id: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    price: Mapped[int] = mapped_column(BigInteger)
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ItemUse(Base):
    """One use of a consumable, unique by the request that asked for it."""

    __tablename__ = "item_uses"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    item_id: Mapped[str] = mapped_column(String(40))
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ItemGrant(Base):
    """Items given or taken outside the store (rewards, auction wins, recipes, story),
    once per idempotency key; `quantity` is negative when items are taken."""

    __tablename__ = "item_grants"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    item_id: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


# --- auctions (services/auctions.py) ---------------------------------------------------------


class Auction(Base):
    """An auction of one content item. `current_price` / `top_bidder_id` are the top bid
    (None before the first); `status` goes open → sold | unsold, once."""

    __tablename__ = "auctions"
    __table_args__ = (Index("ix_auctions_status_ends_at", "status", "ends_at"),
                      CheckConstraint("start_price > 0", name="auction_start_positive"),
                      CheckConstraint("min_increment > 0", name="auction_increment_positive"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(40))
    start_price: Mapped[int] = mapped_column(BigInteger)
    min_increment: Mapped[int] = mapped_column(BigInteger)
    buy_now_price: Mapped[int | None] = mapped_column(BigInteger)
    current_price: Mapped[int | None] = mapped_column(BigInteger)
    top_bidder_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    bid_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="open")
    ends_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(BigInteger)  # an admin's Telegram id
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    closed_at: Mapped[datetime | None]


class AuctionHold(Base):
    """Besitos held from a bidder for an auction: `active` while they lead, then `refunded`
    (outbid) or `captured` (won: the hold is the payment). A member outbid and bidding
    again gets a new row, so each refund has its own key; one active row per member."""

    __tablename__ = "auction_holds"
    __table_args__ = (CheckConstraint("amount > 0", name="hold_positive"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    auction_id: Mapped[int] = mapped_column(ForeignKey("auctions.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


Index("uq_auction_holds_active", AuctionHold.auction_id, AuctionHold.user_id, unique=True,
      sqlite_where=AuctionHold.status == "active",
      postgresql_where=AuctionHold.status == "active")


class AuctionBid(Base):
    """One accepted bid (or buy-now), unique by the request that placed it."""

    __tablename__ = "auction_bids"
    __table_args__ = (Index("ix_auction_bids_auction", "auction_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    auction_id: Mapped[int] = mapped_column(ForeignKey("auctions.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16), default="bid")  # bid | buy_now
    hold_id: Mapped[int] = mapped_column(ForeignKey("auction_holds.id"))
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


# --- reactions (services/reactions.py); recipes keep no table of their own ---------------


class ChannelPost(Base):
    """A post whose reactions pay besitos: only posts registered here count (scheduled posts
    register theirs). `ref` is the short name its reaction buttons carry (`r:<ref>:<n>`)."""

    __tablename__ = "channel_posts"
    __table_args__ = (UniqueConstraint("chat_id", "message_id",
                                       name="uq_channel_posts_chat_message"),
                      Index("ix_channel_posts_ref", "ref"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(32), default="manual")
    ref: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ReactionReward(Base):
    """A reaction that was paid: one per member and post. `created_at` is the payment time
    the per-member rate limit counts (set by the service, so tests can move the clock)."""

    __tablename__ = "reaction_rewards"
    __table_args__ = (UniqueConstraint("chat_id", "message_id", "user_id",
                                       name="uq_reaction_rewards_post_user"),
                      Index("ix_reaction_rewards_user_created", "user_id", "created_at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    via: Mapped[str] = mapped_column(String(16))
    besitos: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


# --- trivia (services/trivia.py) -------------------------------------------------------------


class TriviaPoll(Base):
    """A quiz poll the bot sends. The row is written BEFORE the send (`sending`, unique by
    its delivery key, with the question and the right option) and gets Telegram's poll id,
    message id and open time after it (`open`); `failed` when Telegram refused it. Answers
    arrive keyed by `poll_id`. `user_id` is the member who asked (NULL for a group poll, which
    `requested_by`, an admin, posted); `day` is the local day (the daily limit counts rows)."""

    __tablename__ = "trivia_polls"
    __table_args__ = (Index("ix_trivia_polls_user_day", "user_id", "day"),
                      Index("ix_trivia_polls_status_created", "status", "created_at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_key: Mapped[str] = mapped_column(String(200), unique=True)
    poll_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    question_id: Mapped[str] = mapped_column(String(40))
    correct_option: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_by: Mapped[int | None] = mapped_column(BigInteger)  # the admin of a group poll
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="sending")
    opened_at: Mapped[datetime | None]
    closes_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TriviaAnswer(Base):
    """A member's first answer to a question, the only one that counts, whatever poll or
    chat it came through. `correct` means right AND in time; `besitos` is what it paid."""

    __tablename__ = "trivia_answers"
    __table_args__ = (UniqueConstraint("user_id", "question_id",
                                       name="uq_trivia_answers_user_question"),
                      Index("ix_trivia_answers_set_user", "question_set", "user_id"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    question_id: Mapped[str] = mapped_column(String(40))
    question_set: Mapped[str] = mapped_column(String(24))
    poll_id: Mapped[str] = mapped_column(String(64))
    option_id: Mapped[int] = mapped_column(Integer)
    correct: Mapped[bool] = mapped_column(Boolean)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    besitos: Mapped[int] = mapped_column(Integer, default=0)
    update_key: Mapped[str] = mapped_column(String(200))
    answered_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


# --- broadcasts (services/broadcasts.py) ---------------------------------------------------


class Broadcast(Base):
    """A message an admin sends to a segment of members (`segment`: {"kind": all | vip | free
    | inactive | list, "days": N, "ids": [...]}). `status` goes running ⇄ paused → done |
    cancelled; `sent` / `failed` / `blocked` count the recipients' outcomes (left = total minus
    the three). `batch_seq` names the one batch task allowed to continue (a resume moves it
    on, so a superseded task stops); `progress_*` is the admin's live progress message."""

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_status", "status"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_by: Mapped[int] = mapped_column(BigInteger)  # the admin's Telegram id
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    segment: Mapped[dict[str, Any]]
    text: Mapped[str] = mapped_column(Text)
    parse_mode: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="running")
    total: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[int] = mapped_column(Integer, default=0)
    batch_seq: Mapped[int] = mapped_column(Integer, default=0)
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_edited_at: Mapped[datetime | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class BroadcastRecipient(Base):
    """One member of a broadcast, written when it starts: `pending` until its one send ends
    `sent`, `failed` or `blocked` (`sent_at`: when). A batch task claims pending rows by
    setting `claim` (its batch) and `claimed_at`; the row is what makes "never twice to the
    same member" hold, with the delivery key `broadcast:<id>:<user>`."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (Index("ix_broadcast_recipients_status", "broadcast_id", "status"),)

    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    claim: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]


# --- VIP access (services/vip.py) ----------------------------------------------------------


class VipCode(Base):
    """A single-use VIP code an admin generated. Only a SHA-256 hash of the normalized code
    is stored (the plain code is shown to the admin once); `batch_key` is the request that
    created it, so a redelivered request recomputes the same codes. `redeemed_by` /
    `redeemed_at` are set once, by a conditional update."""

    __tablename__ = "vip_codes"
    __table_args__ = (Index("ix_vip_codes_batch_key", "batch_key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    batch_key: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(32))
    days: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(BigInteger)  # an admin's Telegram id
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime | None]
    redeemed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    redeemed_at: Mapped[datetime | None]


class VipSubscription(Base):
    """One period of VIP access: granted by an admin, redeemed from a code, or an extension
    (starting at the end of the active one). `users.vip_until` is the access everybody
    checks; it moves in the transaction that writes these rows. `ended_at` is set once, by
    the expiry job (or a revocation), with `end_reason`: expired · renewed · revoked."""

    __tablename__ = "vip_subscriptions"
    __table_args__ = (Index("ix_vip_subscriptions_due", "ended_at", "ends_at"),
                      Index("ix_vip_subscriptions_user", "user_id", "ends_at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    plan: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # admin · code · extend
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    granted_by: Mapped[int | None] = mapped_column(BigInteger)  # the admin, for admin grants
    code_id: Mapped[int | None] = mapped_column(ForeignKey("vip_codes.id"))
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(16))


class VipReminder(Base):
    """A reminder `days_before` the end of a member's access, planned when the access was
    granted (`due_at`); the reminder job claims it once (`claimed_at`, `outcome`: sent ·
    superseded). A member whose end moved since (extended, revoked) is not reminded."""

    __tablename__ = "vip_reminders"
    __table_args__ = (UniqueConstraint("user_id", "ends_at", "days_before",
                                       name="uq_vip_reminders_user_end_days"),
                      Index("ix_vip_reminders_due", "claimed_at", "due_at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    ends_at: Mapped[datetime]
    days_before: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))


# --- scheduled posts (services/posts.py) -----------------------------------------------------


class ScheduledPost(Base):
    """A post an admin scheduled for the free or the VIP channel. `publish_at` (UTC) is its
    next occurrence: a one-off post ends `published` (or `failed`); a repeating one (`daily`,
    `weekly`, `cron`: `cron` holds the 5-field expression, also for daily and weekly, read in
    the post's `timezone`) moves `publish_at` on after each occurrence. `status`: scheduled →
    published | failed | cancelled. Created once per request (`request_key`)."""

    __tablename__ = "scheduled_posts"
    __table_args__ = (Index("ix_scheduled_posts_due", "status", "publish_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    target: Mapped[str] = mapped_column(String(8))  # free | vip
    chat_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text, default="")
    parse_mode: Mapped[str | None] = mapped_column(String(8))  # HTML or NULL
    photo: Mapped[str | None] = mapped_column(String(256))  # a Telegram file id or https URL
    url_buttons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    reaction_buttons: Mapped[bool] = mapped_column(Boolean, default=False)
    protect_content: Mapped[bool] = mapped_column(Boolean, default=False)
    publish_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64))
    repeat: Mapped[str] = mapped_column(String(8), default="none")  # none|daily|weekly|cron
    cron: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[int | None] = mapped_column(BigInteger)  # the admin's Telegram id
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class PostPublication(Base):
    """One occurrence of a post being published: unique per (post, due time), so however
    many dispatchers (beat restarted, two workers) claim it, one row, one send (delivery key
    `post:<id>:<due>`). `sending` → `sent` (with the message id) | `failed`; `claimed_at`
    moves with every attempt, so an occurrence whose task was lost is dispatched again."""

    __tablename__ = "post_publications"
    __table_args__ = (UniqueConstraint("post_id", "due_at", name="uq_post_publications_post_due"),
                      Index("ix_post_publications_status_claimed", "status", "claimed_at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("scheduled_posts.id"))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="sending")
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    claimed_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(300))
