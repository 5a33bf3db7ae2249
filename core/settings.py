"""One settings object for bot, worker, beat and API, read from the environment (and `.env`).

Every field maps to an upper-case environment variable of the same name (README lists them).
Secrets are `SecretStr` so they never print in a repr or a log line.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # --- storage -------------------------------------------------------------------------
    # Not a SecretStr (every engine reads it as text), but kept out of repr/str: a
    # PostgreSQL URL carries its password.
    database_url: str = Field(default="sqlite:///var/yabot.db", repr=False)
    sql_echo: bool = False
    sqlite_busy_timeout_ms: int = 5000
    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017/?directConnection=true")
    mongodb_db: str = "yabot"
    mongodb_timeout_ms: int = 2000
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")

    # --- celery --------------------------------------------------------------------------
    broker_visibility_timeout: int = 600
    broker_restore_interval: int = 10
    task_max_retries: int = 8
    task_retry_backoff_max: int = 120
    outbox_relay_interval: float = 5.0
    outbox_relay_min_age: float = 3.0
    outbox_relay_batch: int = 500
    # An accepted command not finished after this many seconds is started again by the
    # reconciler (beat), then after 2x, 4x, ... up to COMMAND_REDRIVE_MAX; an outbox event
    # whose subscribers have not all finished, likewise (OUTBOX_REDRIVE_AFTER).
    command_redrive_after: float = 60.0
    command_redrive_max: float = 600.0
    outbox_redrive_after: float = 60.0
    command_retention_days: int = 7

    # --- telegram ------------------------------------------------------------------------
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_global_rate: float = 30.0
    telegram_global_burst: int = Field(default=3, ge=1)
    telegram_chat_rate: float = 1.0
    telegram_chat_burst: int = 3
    telegram_group_per_minute: int = 20
    telegram_send_lease: float = 30.0
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    admin_chat_id: int | None = None

    # --- daily gift ----------------------------------------------------------------------
    timezone: str = "Europe/Madrid"
    gift_base: int = 10
    gift_streak_bonus: int = 2
    gift_streak_bonus_max_days: int = 5
    gift_vip_multiplier: float = 2.0
    default_language: str = "es"

    # --- auctions ------------------------------------------------------------------------
    auction_snipe_window: int = Field(default=120, ge=0)  # a bid this close to the end...
    auction_snipe_extension: int = Field(default=120, ge=0)  # ...moves the end to now + this
    auction_close_interval: float = Field(default=5.0, gt=0)  # beat: close due auctions
    auction_close_batch: int = Field(default=50, gt=0)  # auctions closed per beat run

    # --- trivia --------------------------------------------------------------------------
    trivia_open_seconds: int = Field(default=300, ge=5, le=2_628_000)  # a quiz poll is open
    trivia_reward: int = Field(default=10, gt=0)  # besitos for a correct answer in time
    trivia_daily_limit: int = Field(default=5, ge=0)  # questions per member per local day
    free_chat_id: int | None = None  # default group of `/trivia <question id>`

    # --- reactions on channel posts ------------------------------------------------------
    reaction_reward: int = Field(default=1, gt=0)  # besitos per member and registered post
    reaction_rate_per_minute: int = Field(default=30, gt=0)  # paid reactions per member/min

    # --- missions, achievements, levels --------------------------------------------------
    missions_expiry_interval: float = Field(default=300.0, gt=0)  # beat: close ended periods
    missions_expiry_batch: int = Field(default=500, gt=0)  # members per batch (10 per run)
    leaderboard_size: int = Field(default=10, ge=1, le=50)  # members shown in 🏅

    # --- catalogs (content/*.yaml) ---------------------------------------------------------
    content_dir: Path | None = None  # where the catalogs are read from; None: the repo's content/
    content_check_interval: float = Field(default=5.0, ge=0)  # s between reload checks

    # --- broadcasts (services/broadcasts.py, tasks/broadcasts.py) -------------------------
    broadcast_batch: int = Field(default=50, ge=1, le=500)  # members sent to per batch task
    broadcast_progress_every: float = Field(default=2.0, ge=0)  # s between progress edits

    # --- scheduled posts (services/posts.py, tasks/posts.py) -------------------------------
    posts_dispatch_interval: float = Field(default=1.0, gt=0)  # beat: publish due posts
    posts_dispatch_batch: int = Field(default=50, gt=0)  # occurrences claimed per beat run

    # --- VIP access (services/vip.py, tasks/vip.py) ---------------------------------------
    vip_chat_id: int | None = None  # the paid channel (join requests, invites, removals)
    vip_reminder_days: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [3, 1])
    vip_expiry_interval: float = Field(default=60.0, gt=0)  # beat: reminders and expiry
    vip_expiry_batch: int = Field(default=100, gt=0)  # rows claimed per beat run
    vip_invite_ttl: int = Field(default=3600, ge=60, le=31_536_000)  # s an invite link lives

    @field_validator("vip_chat_id", mode="before")
    @classmethod
    def _vip_chat_unset_if_empty(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("vip_reminder_days", mode="before")
    @classmethod
    def _split_days(cls, value: object) -> object:
        if isinstance(value, str):
            value = [int(part) for part in value.replace(",", " ").split()]
        elif isinstance(value, int):
            value = [value]
        if isinstance(value, list):
            if any(not isinstance(day, int) or day <= 0 for day in value):
                raise ValueError("VIP_REMINDER_DAYS are positive whole days, e.g. 3,1")
            return sorted(set(value), reverse=True)
        return value

    # --- processes (Flower and the stand-in read FLOWER_* / STANDIN_PORT in the Procfile) ---
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    log_level: str = "INFO"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(",", " ").split()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("content_dir", mode="before")
    @classmethod
    def _unset_if_empty(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def bot_token(self) -> str:
        """The token in use; without a real one the local stand-in accepts this fixed one."""
        if self.telegram_token is not None:
            return self.telegram_token.get_secret_value()
        return "123456:standin-token"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between runs)."""
    get_settings.cache_clear()
