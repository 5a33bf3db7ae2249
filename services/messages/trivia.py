"""🧠 Trivia texts: answers judged, refusals, an admin's post, the leaderboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services import messages
from services.messages import Rendered, renders, t

messages.add_texts(
    es={
        "trivia.correct": "🧠 ¡Correcto! +{besitos} besitos.\n💰 Saldo: {balance} besitos.",
        "trivia.wrong": "🧠 Esta vez no acertaste, ¡pero no pasa nada! Lucien ya te tiene "
                        "preparada otra pregunta.",
        "trivia.late": "⏳ Esa pregunta ya se había cerrado, así que esta vez no suma besitos.",
        "trivia.refused.exhausted": "🧠 ¡Has respondido todas las preguntas! Lucien está "
                                    "preparando más.",
        "trivia.refused.pending": "🧠 Tienes una pregunta esperándote más arriba. Se cierra "
                                  "en {minutes} min.",
        "trivia.refused.limit_reached": "🧠 Por hoy ya has tenido tus {limit} preguntas. "
                                        "Vuelve en {hours} h {minutes} min.",
        "trivia.refused.refused": "🧠 Ahora no puedo enviarte una pregunta.",
        "trivia.posted": "🧠 Pregunta {question_id} enviada al chat {chat_id}.",
        "trivia.post.channel": "📢 No puedo enviarla a un canal: allí Telegram hace anónimas "
                               "todas las encuestas, así que no sabría quién acierta ni a "
                               "quién dar besitos. Envíala a un grupo o supergrupo.",
        "trivia.post.not_group": "🧠 Solo puedo enviar preguntas a grupos o supergrupos.",
        "trivia.post.not_admin": "🔒 Solo las personas administradoras pueden enviar "
                                 "preguntas a un chat.",
        "trivia.post.unknown_question": "🧠 No conozco la pregunta {question_id}.",
        "trivia.post.refused": "🧠 No he podido enviar esa pregunta.",
        "trivia.usage": "Uso: /trivia <pregunta> [id del chat]\nPreguntas: {ids}",
        "trivia.no_chat": "🧠 Indica el id del grupo (o configura FREE_CHAT_ID).",
        "trivia.unreachable_chat": "🧠 No encuentro ese chat. ¿Está el bot dentro?",
        "trivia.top": "🏅 Ranking de trivia · {set}",
        "trivia.top.all": "todas las preguntas",
        "trivia.top.line": "{rank}. {name} — {correct} ✅ · {besitos} 💋",
        "trivia.top.empty": "Nadie ha acertado todavía. ¡Estrena tú el ranking!",
        "trivia.top.own": "Tu puesto: {rank}.º ({correct} ✅ · {besitos} 💋)",
        "trivia.top.none": "Aún no has acertado ninguna pregunta de aquí.",
        "trivia.btn.next": "🧠 Otra pregunta",
        "trivia.btn.top": "🏅 Ranking de trivia",
        "trivia.btn.all": "🏅 Todas",
    },
    en={
        "trivia.correct": "🧠 Correct! +{besitos} besitos.\n💰 Balance: {balance} besitos.",
        "trivia.wrong": "🧠 Not this time, but never mind! Lucien already has another "
                        "question ready for you.",
        "trivia.late": "⏳ That question had already closed, so this time it earns no besitos.",
        "trivia.refused.exhausted": "🧠 You have answered every question! Lucien is "
                                    "preparing more.",
        "trivia.refused.pending": "🧠 A question is waiting for you further up. It closes in "
                                  "{minutes} min.",
        "trivia.refused.limit_reached": "🧠 You have had your {limit} questions for today. "
                                        "Come back in {hours} h {minutes} min.",
        "trivia.refused.refused": "🧠 I cannot send you a question right now.",
        "trivia.posted": "🧠 Question {question_id} sent to chat {chat_id}.",
        "trivia.post.channel": "📢 I cannot send it to a channel: Telegram makes every poll "
                               "there anonymous, so I would not know who answered right or "
                               "whom to give besitos. Send it to a group or supergroup.",
        "trivia.post.not_group": "🧠 I can only send questions to groups or supergroups.",
        "trivia.post.not_admin": "🔒 Only admins can send questions to a chat.",
        "trivia.post.unknown_question": "🧠 I do not know the question {question_id}.",
        "trivia.post.refused": "🧠 I could not send that question.",
        "trivia.usage": "Usage: /trivia <question> [chat id]\nQuestions: {ids}",
        "trivia.no_chat": "🧠 Give the group's id (or configure FREE_CHAT_ID).",
        "trivia.unreachable_chat": "🧠 I cannot find that chat. Is the bot in it?",
        "trivia.top": "🏅 Trivia leaderboard · {set}",
        "trivia.top.all": "every question",
        "trivia.top.line": "{rank}. {name} — {correct} ✅ · {besitos} 💋",
        "trivia.top.empty": "Nobody has answered right yet. Be the first!",
        "trivia.top.own": "Your place: #{rank} ({correct} ✅ · {besitos} 💋)",
        "trivia.top.none": "You have not answered any question here right yet.",
        "trivia.btn.next": "🧠 Another question",
        "trivia.btn.top": "🏅 Trivia leaderboard",
        "trivia.btn.all": "🏅 All",
    },
)
messages.add_reasons(es={"trivia": "Trivia"}, en={"trivia": "Trivia"})  # `trivia:<question>`

SET_TITLES = {"mansion": {"es": "La mansión", "en": "The mansion"},
              "diana": {"es": "Diana", "en": "Diana"}}


def set_title(question_set: str | None, language: str) -> str:
    if question_set is None:
        return t(language, "trivia.top.all")
    titles = SET_TITLES.get(question_set, {})
    return titles.get(language) or titles.get("es") or question_set.capitalize()


def trivia_keyboard(language: str) -> dict[str, Any]:
    return {"inline_keyboard": [
        [{"text": t(language, "trivia.btn.next"), "callback_data": "t:play"},
         {"text": t(language, "trivia.btn.top"), "callback_data": "t:top"}],
        [{"text": t(language, "btn.menu"), "callback_data": "m:menu"}]]}


def _minutes_until(iso: str, since: str) -> int:
    wait = datetime.fromisoformat(iso) - datetime.fromisoformat(since)
    return max(int(wait.total_seconds()) // 60, 0)


@renders("trivia.answered")
def _answered(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    if payload["correct"]:
        text = t(language, "trivia.correct", besitos=payload["besitos"],
                 balance=payload["balance"])
    else:
        text = t(language, "trivia.late" if payload.get("late") else "trivia.wrong")
    return Rendered(text, trivia_keyboard(language))


@renders("trivia.play_refused")
def _play_refused(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    reason = str(payload.get("reason"))
    if reason == "limit_reached":
        minutes = _minutes_until(payload["next_at"], event["at"])
        text = t(language, "trivia.refused.limit_reached", limit=payload["limit"],
                 hours=minutes // 60, minutes=minutes % 60)
    elif reason == "pending":
        text = t(language, "trivia.refused.pending",
                 minutes=max(_minutes_until(payload["closes_at"], event["at"]), 1))
    elif reason == "exhausted":
        text = t(language, "trivia.refused.exhausted")
    else:
        text = t(language, "trivia.refused.refused")
    keyboard = trivia_keyboard(language)
    keyboard["inline_keyboard"][0] = keyboard["inline_keyboard"][0][1:]  # no "another"
    return Rendered(text, keyboard)


@renders("trivia.posted")
def _posted(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    return Rendered(t(language, "trivia.posted", question_id=payload["question_id"],
                      chat_id=payload["chat_id"]))


@renders("trivia.post_refused")
def _post_refused(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    key = f"trivia.post.{payload.get('reason')}"
    if key not in messages.TEXTS["es"]:
        key = "trivia.post.refused"
    return Rendered(t(language, key, question_id=payload.get("question_id", "?")))


def leaderboard_view(language: str, board: Any, sets: tuple[str, ...]) -> Rendered:
    """The top of a set (or of every set) and the member's own place; one button per set.

    `board` is a `services.trivia.Board` (typed loosely: messages imports no SQL services)."""
    parts = [t(language, "trivia.top", set=set_title(board.question_set, language))]
    if board.top:
        parts += [t(language, "trivia.top.line", rank=s.rank, name=s.name, correct=s.correct,
                    besitos=s.besitos) for s in board.top]
    else:
        parts.append(t(language, "trivia.top.empty"))
    parts.append("")
    if board.own is not None:
        parts.append(t(language, "trivia.top.own", rank=board.own.rank,
                       correct=board.own.correct, besitos=board.own.besitos))
    else:
        parts.append(t(language, "trivia.top.none"))
    choices = [{"text": t(language, "trivia.btn.all"), "callback_data": "t:top"}]
    choices += [{"text": f"🏅 {set_title(s, language)}", "callback_data": f"t:top:{s}"}
                for s in sets]
    rows = [choices[i:i + 3] for i in range(0, len(choices), 3)]
    rows.append([{"text": t(language, "trivia.btn.next"), "callback_data": "t:play"},
                 {"text": t(language, "btn.menu"), "callback_data": "m:menu"}])
    return Rendered("\n".join(parts), {"inline_keyboard": rows})
