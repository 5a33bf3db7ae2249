"""The queues, named once. Route tasks here, never with string literals at call sites."""

from enum import StrEnum


class Queue(StrEnum):
    DEFAULT = "default"  # registration, outbox relay, dead letters
    GAMIFICATION = "gamification"  # gifts, missions, achievements, store, auctions, trivia, story
    TELEGRAM = "telegram"  # every outbound Bot API call (rate limited)
    BROADCAST = "broadcast"  # large fan-out sends (later issues)
    SCHEDULED = "scheduled"  # beat-driven jobs (later issues)


ROUTES: dict[str, dict[str, str]] = {
    "tasks.users.*": {"queue": Queue.DEFAULT},
    "tasks.events.*": {"queue": Queue.DEFAULT},
    "tasks.deadletters.*": {"queue": Queue.DEFAULT},
    "tasks.gifts.*": {"queue": Queue.GAMIFICATION},
    "tasks.missions.*": {"queue": Queue.GAMIFICATION},
    "tasks.achievements.*": {"queue": Queue.GAMIFICATION},
    "tasks.store.*": {"queue": Queue.GAMIFICATION},
    "tasks.reactions.toast": {"queue": Queue.TELEGRAM},  # answers a button press
    "tasks.reactions.*": {"queue": Queue.GAMIFICATION},
    "tasks.recipes.*": {"queue": Queue.GAMIFICATION},
    "tasks.auctions.close_due": {"queue": Queue.SCHEDULED},
    "tasks.auctions.*": {"queue": Queue.GAMIFICATION},
    # sending a poll is a Bot API call; judging the answer is gamification
    "tasks.trivia.play": {"queue": Queue.TELEGRAM},
    "tasks.trivia.post": {"queue": Queue.TELEGRAM},
    "tasks.trivia.*": {"queue": Queue.GAMIFICATION},
    "tasks.story.*": {"queue": Queue.GAMIFICATION},
    "tasks.admin.*": {"queue": Queue.DEFAULT},  # the /admin panel's actions
    "tasks.broadcasts.*": {"queue": Queue.BROADCAST},  # 📣 broadcasts: start, batches, control
    # 👑 VIP access: beat jobs; Bot API calls (join answers, invites, removals); the rest
    "tasks.vip.remind_due": {"queue": Queue.SCHEDULED},
    "tasks.vip.expire_due": {"queue": Queue.SCHEDULED},
    "tasks.vip.join_request": {"queue": Queue.TELEGRAM},
    "tasks.vip.invite": {"queue": Queue.TELEGRAM},
    "tasks.vip.remove": {"queue": Queue.TELEGRAM},
    "tasks.vip.tell_admin": {"queue": Queue.TELEGRAM},
    "tasks.vip.*": {"queue": Queue.DEFAULT},
    # 🗓️ scheduled posts: the beat dispatcher; Bot API sends (publish, preview, list); the rest
    "tasks.posts.dispatch": {"queue": Queue.SCHEDULED},
    "tasks.posts.publish": {"queue": Queue.TELEGRAM},
    "tasks.posts.preview": {"queue": Queue.TELEGRAM},
    "tasks.posts.show_list": {"queue": Queue.TELEGRAM},
    "tasks.posts.*": {"queue": Queue.DEFAULT},
    "tasks.notify.*": {"queue": Queue.TELEGRAM},
    "tasks.telegram.*": {"queue": Queue.TELEGRAM},
    "bench.*": {"queue": Queue.DEFAULT},
}
