"""What members read about missions, achievements, levels and the leaderboard.

Event messages: `mission.completed` and `achievement.unlocked` (with their items and the
tier), `level.up`. Views for the 🎯 / 🏆 / 🏅 buttons (`g:missions`, `g:achievements`,
`g:top`), rendered from what services/missions.py, services/achievements.py and
services/levels.py computed (typed loosely: messages import no service that touches SQL).

The leaderboard shows other members by their Telegram first name only — what the
community already sees of them in the channel — never usernames or ids, cut to 24
characters and stripped of line breaks so one name cannot reshape the message.
"""

from __future__ import annotations

from typing import Any

from services import content, messages
from services.messages import Rendered, renders, t

messages.add_texts(
    es={
        "progress.mission.completed": "✅ Misión completada: {title}. {reward}\n"
                                      "💰 Saldo: {balance} besitos.",
        "progress.achievement.unlocked": "🏆 Logro desbloqueado: {title} ({tier}). {reward}\n"
                                         "💰 Saldo: {balance} besitos.",
        "progress.achievement.secret": "🤫 ¡Era un logro secreto!",
        "progress.level.up": "🎉 ¡Subes de nivel! Ahora eres nivel {level}: {title}.",
        "progress.level.next": "Siguiente: nivel {level} ({title}) a los {threshold} besitos "
                               "ganados.",
        "progress.level.top": "Has llegado al nivel más alto. 👑",
        "progress.reward.besitos": "+{besitos} besitos",
        "progress.reward.none": "¡Bien hecho!",
        "progress.and": " y ",
        "progress.missions": "🎯 Tus misiones",
        "progress.missions.empty": "🎯 No hay misiones por ahora.",
        "progress.type.daily": "📅 Hoy",
        "progress.type.weekly": "🗓️ Esta semana",
        "progress.type.story": "📖 Historia",
        "progress.type.special": "✨ Especiales",
        "progress.state.completed": "completada",
        "progress.state.expired": "caducada",
        "progress.vip": "👑 VIP",
        "progress.degraded": "⚠️ Ahora mismo no puedo leer tu progreso; te lo enseño en un "
                             "momento. Inténtalo de nuevo en breve.",
        "progress.achievements": "🏆 Tus logros: {unlocked} de {total}",
        "progress.achievements.hidden": "🤫 Y {count} logro(s) secreto(s) por descubrir.",
        "progress.top": "🏅 Ranking de besitos ganados",
        "progress.top.empty": "Nadie ha ganado besitos todavía. ¡Empieza con el 🎁 regalo "
                              "diario!",
        "progress.top.anonymous": "Miembro",
        "progress.top.you": "Tú: puesto {rank} · {earned} besitos ganados",
        "progress.top.unranked": "Aún no tienes puesto: gana tus primeros besitos con el 🎁 "
                                 "regalo diario.",
        "progress.top.level": "⭐ Nivel {level}: {title}",
        "progress.top.to_next": "{bar} {earned}/{threshold} para el nivel {level} ({title})",
        "progress.top.max": "👑 Nivel máximo alcanzado.",
        "progress.objective.gift.claimed": "regalos",
        "progress.objective.reaction.rewarded": "reacciones",
        "progress.objective.trivia.answered": "respuestas",
        "progress.objective.story.fragment_read": "fragmentos",
        "progress.objective.story.choice_made": "decisiones",
        "progress.objective.item.purchased": "compras",
        "progress.objective.item.crafted": "creaciones",
        "progress.objective.mission.completed": "misiones",
        "progress.objective.achievement.unlocked": "logros",
        "progress.objective.besitos.earned": "besitos ganados",
        "progress.objective.streak": "días seguidos",
        "progress.tier.bronze": "🥉 bronce",
        "progress.tier.silver": "🥈 plata",
        "progress.tier.gold": "🥇 oro",
        "progress.tier.platinum": "💠 platino",
        "progress.tier.diamond": "💎 diamante",
    },
    en={
        "progress.mission.completed": "✅ Mission completed: {title}. {reward}\n"
                                      "💰 Balance: {balance} besitos.",
        "progress.achievement.unlocked": "🏆 Achievement unlocked: {title} ({tier}). {reward}\n"
                                         "💰 Balance: {balance} besitos.",
        "progress.achievement.secret": "🤫 It was a secret achievement!",
        "progress.level.up": "🎉 Level up! You are now level {level}: {title}.",
        "progress.level.next": "Next: level {level} ({title}) at {threshold} besitos earned.",
        "progress.level.top": "You reached the highest level. 👑",
        "progress.reward.besitos": "+{besitos} besitos",
        "progress.reward.none": "Well done!",
        "progress.and": " and ",
        "progress.missions": "🎯 Your missions",
        "progress.missions.empty": "🎯 No missions for now.",
        "progress.type.daily": "📅 Today",
        "progress.type.weekly": "🗓️ This week",
        "progress.type.story": "📖 Story",
        "progress.type.special": "✨ Special",
        "progress.state.completed": "completed",
        "progress.state.expired": "expired",
        "progress.vip": "👑 VIP",
        "progress.degraded": "⚠️ I cannot read your progress right now. Please try again in "
                             "a moment.",
        "progress.achievements": "🏆 Your achievements: {unlocked} of {total}",
        "progress.achievements.hidden": "🤫 And {count} secret achievement(s) to discover.",
        "progress.top": "🏅 Leaderboard of besitos earned",
        "progress.top.empty": "Nobody has earned besitos yet. Start with the 🎁 daily gift!",
        "progress.top.anonymous": "Member",
        "progress.top.you": "You: rank {rank} · {earned} besitos earned",
        "progress.top.unranked": "No rank yet: earn your first besitos with the 🎁 daily gift.",
        "progress.top.level": "⭐ Level {level}: {title}",
        "progress.top.to_next": "{bar} {earned}/{threshold} to level {level} ({title})",
        "progress.top.max": "👑 Highest level reached.",
        "progress.objective.gift.claimed": "gifts",
        "progress.objective.reaction.rewarded": "reactions",
        "progress.objective.trivia.answered": "answers",
        "progress.objective.story.fragment_read": "fragments",
        "progress.objective.story.choice_made": "choices",
        "progress.objective.item.purchased": "purchases",
        "progress.objective.item.crafted": "crafted items",
        "progress.objective.mission.completed": "missions",
        "progress.objective.achievement.unlocked": "achievements",
        "progress.objective.besitos.earned": "besitos earned",
        "progress.objective.streak": "days in a row",
        "progress.tier.bronze": "🥉 bronze",
        "progress.tier.silver": "🥈 silver",
        "progress.tier.gold": "🥇 gold",
        "progress.tier.platinum": "💠 platinum",
        "progress.tier.diamond": "💎 diamond",
    },
)

BAR_CELLS = 8
NAME_MAX = 24


def bar(value: int, target: int) -> str:
    filled = 0 if target <= 0 else min(BAR_CELLS, value * BAR_CELLS // target)
    return "▰" * filled + "▱" * (BAR_CELLS - filled)


def _button(language: str, key: str, data: str) -> dict[str, str]:
    return {"text": t(language, key), "callback_data": data}


def progress_keyboard(language: str) -> dict[str, Any]:
    """🎯 / 🏆 / 🏅 and back to the menu (under every progress view and message)."""
    return {"inline_keyboard": [
        [_button(language, "btn.missions", "g:missions"),
         _button(language, "btn.achievements", "g:achievements"),
         _button(language, "btn.top", "g:top")],
        [_button(language, "btn.menu", "m:menu")],
    ]}


def _mission(mission_id: str) -> content.Mission | None:
    return next((m for m in content.missions() if m.id == mission_id), None)


def _achievement(achievement_id: str) -> content.Achievement | None:
    return next((a for a in content.achievements() if a.id == achievement_id), None)


def _item_title(item_id: str, language: str) -> str:
    item = content.item(item_id)
    return item.title.get(language) if item is not None else item_id


def tier_label(tier: str, language: str) -> str:
    key = f"progress.tier.{tier}"
    return t(language, key) if key in messages.TEXTS["es"] else tier


def reward_text(language: str, besitos: int, items: list[Any]) -> str:
    """`+50 besitos y Rosa roja × 1` from a payload's besitos and [[item, quantity], …]."""
    parts = [t(language, "progress.reward.besitos", besitos=besitos)] if besitos else []
    parts += [f"🎁 {_item_title(str(item), language)} × {int(quantity)}"
              for item, quantity in items]
    return t(language, "progress.and").join(parts) if parts else t(language,
                                                                     "progress.reward.none")


@renders("mission.completed")
def _mission_completed(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    mission = _mission(payload["mission_id"])
    title = mission.title.get(language) if mission is not None else payload["mission_id"]
    return Rendered(t(language, "progress.mission.completed", title=title,
                      reward=reward_text(language, int(payload.get("besitos") or 0),
                                         payload.get("items") or []),
                      balance=payload["balance"]),
                    progress_keyboard(language))


@renders("achievement.unlocked")
def _achievement_unlocked(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    achievement = _achievement(payload["achievement_id"])
    title = achievement.title.get(language) if achievement is not None \
        else payload["achievement_id"]
    text = t(language, "progress.achievement.unlocked", title=title,
             tier=tier_label(str(payload.get("tier")), language),
             reward=reward_text(language, int(payload.get("besitos") or 0),
                                payload.get("items") or []),
             balance=payload["balance"])
    if achievement is not None and achievement.secret:
        text = t(language, "progress.achievement.secret") + "\n" + text
    return Rendered(text, progress_keyboard(language))


def _level(number: int) -> content.Level | None:
    return next((level for level in content.levels() if level.level == number), None)


@renders("level.up")
def _level_up(event: dict[str, Any], language: str) -> Rendered:
    number = int(event["payload"]["level"])
    level = _level(number)
    title = level.title.get(language) if level is not None else str(number)
    parts = [t(language, "progress.level.up", level=number, title=title)]
    following = _level(number + 1)
    if following is not None:
        parts.append(t(language, "progress.level.next", level=following.level,
                       title=following.title.get(language), threshold=following.threshold))
    else:
        parts.append(t(language, "progress.level.top"))
    return Rendered("\n".join(parts), progress_keyboard(language))


# --- views ------------------------------------------------------------------------------

def _objective_label(objective: content.Objective, language: str) -> str:
    key = "progress.objective.streak" if objective.metric == "streak" \
        else f"progress.objective.{objective.event}"
    return t(language, key) if key in messages.TEXTS["es"] else ""


def missions_view(language: str, statuses: list[Any], *, degraded: bool = False) -> Rendered:
    """The current period's missions (`services.missions.MissionStatus`), grouped by type,
    with a progress bar per objective."""
    if not statuses:
        return Rendered(t(language, "progress.missions.empty"), progress_keyboard(language))
    parts = [t(language, "progress.missions")]
    if degraded:
        parts.append(t(language, "progress.degraded"))
    current_type = None
    for status in statuses:
        mission = status.mission
        if mission.type != current_type:
            current_type = mission.type
            parts.append("")
            parts.append(t(language, f"progress.type.{mission.type}"))
        mark = {"completed": "✅", "expired": "⌛", "in_progress": "⏳"}.get(status.state, "▫️")
        line = f"{mark} {mission.title.get(language)}"
        if mission.vip_only:
            line += f" · {t(language, 'progress.vip')}"
        items = [[reward.item, reward.quantity] for reward in mission.reward.items]
        parts.append(f"{line} — {reward_text(language, mission.reward.besitos, items)}")
        parts.append(f"   {mission.description.get(language)}")
        if status.state in ("completed", "expired"):
            parts.append(f"   {t(language, f'progress.state.{status.state}')}")
            continue
        for value, objective in zip(status.progress, mission.objectives, strict=True):
            label = _objective_label(objective, language)
            parts.append(f"   {bar(value, objective.target)} {value}/{objective.target}"
                         + (f" {label}" if label else ""))
    return Rendered("\n".join(parts), progress_keyboard(language))


def achievements_view(language: str, statuses: list[Any], hidden: int, *, total: int,
                      degraded: bool = False) -> Rendered:
    """Unlocked achievements with their tier, then locked non-secret ones with progress
    (`services.achievements.AchievementStatus`), and how many secret ones remain."""
    unlocked = sum(1 for status in statuses if status.unlocked)
    parts = [t(language, "progress.achievements", unlocked=unlocked, total=total)]
    if degraded:
        parts.append(t(language, "progress.degraded"))
    parts.append("")
    for status in statuses:
        achievement = status.achievement
        title = achievement.title.get(language)
        if status.unlocked:
            parts.append(f"{tier_label(achievement.tier, language)} · {title}")
        else:
            parts.append(f"🔒 {title} — {achievement.description.get(language)}")
            parts.append(f"   {bar(status.value, status.target)} {status.value}/"
                         f"{status.target}")
    if hidden:
        parts.append("")
        parts.append(t(language, "progress.achievements.hidden", count=hidden))
    return Rendered("\n".join(parts), progress_keyboard(language))


def display_name(first_name: str, language: str) -> str:
    name = " ".join((first_name or "").split())[:NAME_MAX]
    return name or t(language, "progress.top.anonymous")


def top_view(language: str, leaders: list[Any], standing: Any) -> Rendered:
    """The leaderboard (`services.levels.Leader`), then the member's own rank, level and
    progress to the next level (`services.levels.Standing`)."""
    parts = [t(language, "progress.top"), ""]
    if not leaders:
        parts.append(t(language, "progress.top.empty"))
    medals = {1: "🥇", 2: "🥈", 3: "🥉"}
    for leader in leaders:
        you = " 👈" if leader.user_id == standing.user_id else ""
        parts.append(f"{medals.get(leader.rank, f'{leader.rank}.')} "
                     f"{display_name(leader.first_name, language)} — "
                     f"{leader.lifetime_earned}{you}")
    parts.append("")
    if standing.rank is None:
        parts.append(t(language, "progress.top.unranked"))
    else:
        parts.append(t(language, "progress.top.you", rank=standing.rank,
                       earned=standing.lifetime_earned))
    parts.append(t(language, "progress.top.level", level=standing.level.level,
                   title=standing.level.title.get(language)))
    following = standing.next
    if following is None:
        parts.append(t(language, "progress.top.max"))
    else:
        base = standing.level.threshold
        parts.append(t(language, "progress.top.to_next",
                       bar=bar(standing.lifetime_earned - base, following.threshold - base),
                       earned=standing.lifetime_earned, threshold=following.threshold,
                       level=following.level, title=following.title.get(language)))
    return Rendered("\n".join(parts), progress_keyboard(language))
