"""The one Celery app: broker, serialization, reliability settings, queues, routes, beat.

Start a worker:  celery -A worker.app worker -Q default,gamification,telegram
Start beat:      celery -A worker.app beat -s celerybeat-schedule
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue as KombuQueue

from core.settings import get_settings
from worker import patches
from worker.queues import ROUTES, Queue

TASK_MODULES = [
    "tasks.events",
    "tasks.users",
    "tasks.gifts",
    "tasks.missions",
    "tasks.achievements",
    "tasks.store",
    "tasks.reactions",
    "tasks.recipes",
    "tasks.auctions",
    "tasks.trivia",
    "tasks.story",
    "tasks.admin",
    "tasks.broadcasts",  # 📣 broadcasts
    "tasks.vip",  # 👑 VIP access
    "tasks.posts",  # 🗓️ scheduled posts
    "tasks.notify",
    "tasks.telegram",
    "tasks.deadletters",
    "tasks.content",
]


def make_app() -> Celery:
    patches.apply()
    settings = get_settings()
    redis_url = settings.redis_url.get_secret_value()
    celery_app = Celery("yabot", include=TASK_MODULES)
    celery_app.conf.update(
        broker_url=redis_url,
        broker_connection_retry_on_startup=True,
        # A message not acked within `visibility_timeout` seconds (its worker died) is handed
        # to another worker; every worker sweeps for such messages each
        # `unacked_restore_interval` seconds. The timeout is longer than any task plus any
        # countdown we use (retry backoff and Telegram's retry_after stay well below it).
        # socket_timeout: a publish to a broker that vanished fails instead of hanging.
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout,
            "unacked_restore_interval": settings.broker_restore_interval,
            "unacked_restore_throttle": 1,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
            "health_check_interval": 25,
        },
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        task_default_queue=Queue.DEFAULT.value,
        task_queues=[KombuQueue(q.value, routing_key=q.value) for q in Queue],
        task_routes=ROUTES,
        task_time_limit=300,
        task_soft_time_limit=240,
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "outbox-relay": {
                "task": "tasks.events.relay",
                "schedule": settings.outbox_relay_interval,
                "options": {"expires": settings.outbox_relay_interval * 2},
            },
            "missions-expire": {
                "task": "tasks.missions.expire",
                "schedule": settings.missions_expiry_interval,
                "options": {"expires": settings.missions_expiry_interval * 2,
                            "queue": Queue.SCHEDULED.value},
            },
            "auctions-close": {
                "task": "tasks.auctions.close_due",
                "schedule": settings.auction_close_interval,
                "options": {"expires": settings.auction_close_interval * 2,
                            "queue": Queue.SCHEDULED.value},
            },
            # 👑 VIP access: reminders before the end, then expiry (removal from the channel)
            "vip-remind": {
                "task": "tasks.vip.remind_due",
                "schedule": settings.vip_expiry_interval,
                "options": {"expires": settings.vip_expiry_interval * 2,
                            "queue": Queue.SCHEDULED.value},
            },
            "vip-expire": {
                "task": "tasks.vip.expire_due",
                "schedule": settings.vip_expiry_interval,
                "options": {"expires": settings.vip_expiry_interval * 2,
                            "queue": Queue.SCHEDULED.value},
            },
            # 🗓️ scheduled posts: the database is the schedule; this claims what is due
            "posts-dispatch": {
                "task": "tasks.posts.dispatch",
                "schedule": settings.posts_dispatch_interval,
                "options": {"expires": settings.posts_dispatch_interval * 2,
                            "queue": Queue.SCHEDULED.value},
            },
        },
    )
    return celery_app


app = make_app()

import worker.signals  # noqa: E402,F401  (connects the process and logging signals)
