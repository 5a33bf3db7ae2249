"""📣 Broadcast texts: the admin's live progress message, the final report, refusals.

The progress message's buttons carry `b:pause:<id>`, `b:resume:<id>`, `b:cancel:<id>`
(bot/callbacks.py `parse_broadcast`).
"""

from __future__ import annotations

from typing import Any

from services.messages import TEXTS, Rendered, add_texts, renders, t

BAR_CELLS = 10

add_texts(
    es={
        "broadcast.progress": "📣 Difusión #{id} · {state}\n{bar} {percent} %\n"
                              "✅ Enviados: {sent}\n⚠️ Fallidos: {failed}\n"
                              "🚫 Bloqueados: {blocked}\n⏳ Quedan: {left} de {total}",
        "broadcast.rate": "⚡ {rate} mensajes/s · ⏱ fin en {eta}",
        "broadcast.state.running": "enviando",
        "broadcast.state.paused": "en pausa",
        "broadcast.state.done": "terminada",
        "broadcast.state.cancelled": "cancelada",
        "btn.broadcast_pause": "⏸ Pausar",
        "btn.broadcast_resume": "▶️ Reanudar",
        "btn.broadcast_cancel": "✖️ Cancelar",
        "broadcast.report.done": "📣 Difusión #{id} terminada en {duration}.",
        "broadcast.report.cancelled": "📣 Difusión #{id} cancelada tras {duration}.",
        "broadcast.report": "👥 Destinatarios: {total}\n✅ Enviados: {sent}\n"
                            "⚠️ Fallidos: {failed}\n🚫 Bloqueados: {blocked} (marcados: no "
                            "recibirán más difusiones)",
        "broadcast.report.left": "⏳ Sin enviar: {left}",
        "broadcast.usage": "📣 Para difundir un mensaje, respóndelo con:\n"
                           "/difundir todos · vip · free · inactivos N · lista id,id,…\n"
                           "Se envía con su formato, una sola vez a cada miembro del segmento.",
        "broadcast.refused.not_admin": "🔒 Solo un administrador puede hacer difusiones.",
        "broadcast.refused.too_long": "✂️ Ese mensaje es demasiado largo: Telegram admite "
                                      "4096 caracteres.",
        "broadcast.refused.no_recipients": "🤷 No hay ningún miembro alcanzable en ese "
                                           "segmento.",
        "broadcast.refused.unknown_broadcast": "Esa difusión no existe.",
        "broadcast.refused.wrong_state": "Esa difusión ya está {state}.",
        "broadcast.refused.refused": "No he podido hacer eso con la difusión.",
    },
    en={
        "broadcast.progress": "📣 Broadcast #{id} · {state}\n{bar} {percent} %\n"
                              "✅ Sent: {sent}\n⚠️ Failed: {failed}\n"
                              "🚫 Blocked: {blocked}\n⏳ Left: {left} of {total}",
        "broadcast.rate": "⚡ {rate} messages/s · ⏱ done in {eta}",
        "broadcast.state.running": "sending",
        "broadcast.state.paused": "paused",
        "broadcast.state.done": "finished",
        "broadcast.state.cancelled": "cancelled",
        "btn.broadcast_pause": "⏸ Pause",
        "btn.broadcast_resume": "▶️ Resume",
        "btn.broadcast_cancel": "✖️ Cancel",
        "broadcast.report.done": "📣 Broadcast #{id} finished in {duration}.",
        "broadcast.report.cancelled": "📣 Broadcast #{id} cancelled after {duration}.",
        "broadcast.report": "👥 Recipients: {total}\n✅ Sent: {sent}\n⚠️ Failed: {failed}\n"
                            "🚫 Blocked: {blocked} (marked: they get no more broadcasts)",
        "broadcast.report.left": "⏳ Not sent: {left}",
        "broadcast.usage": "📣 To broadcast a message, reply to it with:\n"
                           "/difundir todos · vip · free · inactivos N · lista id,id,…\n"
                           "It is sent with its formatting, once to each member of the segment.",
        "broadcast.refused.not_admin": "🔒 Only an admin can broadcast.",
        "broadcast.refused.too_long": "✂️ That message is too long: Telegram takes 4096 "
                                      "characters.",
        "broadcast.refused.no_recipients": "🤷 No reachable member is in that segment.",
        "broadcast.refused.unknown_broadcast": "That broadcast does not exist.",
        "broadcast.refused.wrong_state": "That broadcast is {state} already.",
        "broadcast.refused.refused": "I could not do that with the broadcast.",
    },
)


def duration(seconds: float) -> str:
    """`1 h 5 min`, `3 min 20 s`, `12 s` (the same in both languages)."""
    total = max(int(round(seconds)), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def bar(share: float) -> str:
    """A text bar of BAR_CELLS cells: `██████░░░░`."""
    filled = min(max(int(share * BAR_CELLS + 1e-9), 0), BAR_CELLS)
    return "█" * filled + "░" * (BAR_CELLS - filled)


def _state(language: str, status: str) -> str:
    key = f"broadcast.state.{status}"
    return t(language, key) if key in TEXTS["es"] else status


def _button(language: str, key: str, data: str) -> dict[str, str]:
    return {"text": t(language, key), "callback_data": data}


def progress_view(progress: Any) -> Rendered:
    """The admin's live message (`progress` is a services.broadcasts.Progress): the bar,
    sent / failed / blocked / left, rate and ETA, and the buttons of its state."""
    language = progress.language
    parts = [t(language, "broadcast.progress", id=progress.broadcast_id,
               state=_state(language, progress.status), bar=bar(progress.share),
               percent=int(progress.share * 100), sent=progress.sent, failed=progress.failed,
               blocked=progress.blocked, left=progress.left, total=progress.total)]
    if progress.status == "running" and progress.eta_seconds is not None:
        parts.append(t(language, "broadcast.rate", rate=f"{progress.rate:.1f}",
                       eta=duration(progress.eta_seconds)))
    if progress.ended:
        parts.append(t(language, f"broadcast.report.{progress.status}",
                       id=progress.broadcast_id, duration=duration(progress.elapsed_seconds)))
    bid = progress.broadcast_id
    rows: list[list[dict[str, str]]] = []
    if progress.status == "running":
        rows.append([_button(language, "btn.broadcast_pause", f"b:pause:{bid}"),
                     _button(language, "btn.broadcast_cancel", f"b:cancel:{bid}")])
    elif progress.status == "paused":
        rows.append([_button(language, "btn.broadcast_resume", f"b:resume:{bid}"),
                     _button(language, "btn.broadcast_cancel", f"b:cancel:{bid}")])
    return Rendered("\n".join(parts), {"inline_keyboard": rows} if rows else None)


def report_text(language: str, payload: dict[str, Any]) -> str:
    """The final report of `broadcast.finished`: how it ended, and every count."""
    status = "cancelled" if payload.get("status") == "cancelled" else "done"
    parts = [t(language, f"broadcast.report.{status}", id=payload["broadcast_id"],
               duration=duration(float(payload.get("seconds", 0)))),
             t(language, "broadcast.report", total=payload["total"], sent=payload["sent"],
               failed=payload["failed"], blocked=payload["blocked"])]
    if payload.get("left"):
        parts.append(t(language, "broadcast.report.left", left=payload["left"]))
    return "\n".join(parts)


@renders("broadcast.finished")
def _finished(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if "user_id" not in payload:
        return None
    return Rendered(report_text(language, payload))


@renders("broadcast.refused")
def _refused(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if "user_id" not in payload:
        return None
    reason = str(payload.get("reason"))
    if reason == "usage":
        return Rendered(t(language, "broadcast.usage"))
    key = f"broadcast.refused.{reason}"
    if key not in TEXTS["es"]:
        key = "broadcast.refused.refused"
    return Rendered(t(language, key, state=_state(language, str(payload.get("state", "")))))
