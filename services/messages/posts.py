"""🗓️ Scheduled posts: what the admins read (Spanish and English).

Callback data (bot/callbacks.py): `o:list`, `o:view:<id>` (preview), `o:cancel:<id>` (asks),
`o:drop:<id>` (cancels). Event messages go to the admin who acted (`post.scheduled`,
`post.rescheduled`, `post.cancelled`, `post.refused`) or who created the post
(`post.published`, `post.failed`). Times are shown in the post's time zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.messages import TEXTS, Rendered, add_texts, renders, t

add_texts(
    es={
        "post.target.free": "libre",
        "post.target.vip": "VIP",
        "post.repeat.daily": "🔁 cada día",
        "post.repeat.weekly": "🔁 cada semana",
        "post.repeat.cron": "🔁 cron «{cron}»",
        "post.scheduled": "🗓️ Post #{id} programado para el {when} ({zone}) en el canal "
                          "{target}.",
        "post.scheduled.repeat": "Se repite: {repeat}.",
        "post.scheduled.flags": "{flags}",
        "post.flag.protected": "🛡️ protegido",
        "post.flag.reactions": "💋 botones de reacción",
        "post.flag.photo": "🖼️ con foto",
        "post.flag.buttons": "🔗 {count} botón(es)",
        "post.rescheduled": "🗓️ Post #{id} movido al {when} ({zone}).",
        "post.cancelled": "🗑️ Post #{id} cancelado: no se publicará.",
        "post.published": "✅ Post #{id} publicado en el canal {target} (mensaje {message_id}).",
        "post.next": "🔁 Próxima publicación: {when} ({zone}).",
        "post.failed": "⚠️ No pude publicar el post #{id} en el canal {target}: {error}.",
        "post.error.forbidden": "el bot no puede escribir allí (¿es administrador del canal?)",
        "post.error.rejected": "Telegram lo rechazó",
        "post.error.unavailable": "Telegram no respondía tras varios intentos",
        "post.error.rate_limited": "Telegram pedía esperar demasiado",
        "post.error.other": "error {code}",
        "post.list": "🗓️ Publicaciones programadas ({count}):",
        "post.list_empty": "🗓️ No hay publicaciones programadas. Responde a un mensaje tuyo "
                           "con /programar para crear una.",
        "post.confirm_cancel": "🗑️ ¿Cancelar el post #{id}? No se publicará.",
        "post.preview": "👁️ Vista previa del post #{id} · canal {target} · {when} ({zone})",
        "post.preview_failed": "⚠️ Telegram rechazó la vista previa del post #{id} ({error}): "
                               "así tampoco se podría publicar. Edítalo o cancélalo.",
        "post.btn.view": "👁️ Ver #{id}",
        "post.btn.cancel": "🗑️ Cancelar #{id}",
        "post.btn.confirm": "🗑️ Sí, cancelar",
        "post.btn.keep": "↩️ No",
        "post.btn.list": "🗓️ Publicaciones",
        "post.usage": "Uso: escribe el post (texto con formato, o una foto con pie) y "
                      "respóndele con\n/programar <free|vip> <AAAA-MM-DD HH:MM> "
                      "[diario|semanal|cron \"m h díames mes díasemana\"] [--reacciones] "
                      "[--sin-proteger] [--proteger] [--zona=Europe/Madrid]\n"
                      "Botones: líneas [texto](https://…) al final del mensaje.\n"
                      "Ejemplo: /programar vip 2026-05-01 20:30 semanal --reacciones\n"
                      "/posts — las programadas · /editar_post <id> <AAAA-MM-DD HH:MM> — "
                      "cambiar la hora",
        "post.refused.not_admin": "🔒 Solo un administrador puede gestionar las "
                                  "publicaciones programadas.",
        "post.refused.no_content": "✍️ Responde con /programar a tu propio mensaje con el "
                                   "texto (o la foto) del post.",
        "post.refused.no_chat": "⚙️ Falta configurar el id de ese canal (FREE_CHAT_ID o "
                                "VIP_CHAT_ID).",
        "post.refused.empty": "✍️ El post está vacío: escribe un texto o manda una foto.",
        "post.refused.text_too_long": "✂️ El texto pasa de 4096 caracteres.",
        "post.refused.caption_too_long": "✂️ Con foto, el texto pasa de 1024 caracteres.",
        "post.refused.bad_button": "🔗 Los botones son líneas [texto](https://…) al final del "
                                   "mensaje: solo enlaces https, hasta 10, con textos de "
                                   "hasta 64 caracteres.",
        "post.refused.bad_photo": "🖼️ No puedo usar esa foto.",
        "post.refused.bad_time": "🕰️ No entiendo la fecha. Usa AAAA-MM-DD HH:MM, por "
                                 "ejemplo 2026-05-01 20:30.",
        "post.refused.bad_zone": "🌍 No conozco esa zona horaria (usa un nombre como "
                                 "Europe/Madrid).",
        "post.refused.in_past": "⏳ Esa hora ya pasó. Elige una hora futura.",
        "post.refused.too_far": "📆 Se puede programar como mucho con un año de antelación.",
        "post.refused.bad_cron": "🔁 Esa expresión cron no vale (o nunca se cumple). Son 5 "
                                 "campos: minuto hora díames mes díasemana, por ejemplo "
                                 "\"0 9 * * 1\" (lunes a las 9:00).",
        "post.refused.unknown_post": "🔎 No existe el post #{post_id}.",
        "post.refused.not_editable": "🔒 El post #{post_id} ya no se puede cambiar "
                                     "(publicado, cancelado o publicándose ahora mismo).",
        "post.refused.refused": "No he podido hacer eso con la publicación.",
    },
    en={
        "post.target.free": "free",
        "post.target.vip": "VIP",
        "post.repeat.daily": "🔁 every day",
        "post.repeat.weekly": "🔁 every week",
        "post.repeat.cron": "🔁 cron “{cron}”",
        "post.scheduled": "🗓️ Post #{id} scheduled for {when} ({zone}) in the {target} "
                          "channel.",
        "post.scheduled.repeat": "Repeats: {repeat}.",
        "post.scheduled.flags": "{flags}",
        "post.flag.protected": "🛡️ protected",
        "post.flag.reactions": "💋 reaction buttons",
        "post.flag.photo": "🖼️ with a photo",
        "post.flag.buttons": "🔗 {count} button(s)",
        "post.rescheduled": "🗓️ Post #{id} moved to {when} ({zone}).",
        "post.cancelled": "🗑️ Post #{id} cancelled: it will not be published.",
        "post.published": "✅ Post #{id} published in the {target} channel (message "
                          "{message_id}).",
        "post.next": "🔁 Next one: {when} ({zone}).",
        "post.failed": "⚠️ I could not publish post #{id} in the {target} channel: {error}.",
        "post.error.forbidden": "the bot cannot write there (is it an admin of the channel?)",
        "post.error.rejected": "Telegram refused it",
        "post.error.unavailable": "Telegram did not answer after several tries",
        "post.error.rate_limited": "Telegram kept asking to wait",
        "post.error.other": "error {code}",
        "post.list": "🗓️ Scheduled posts ({count}):",
        "post.list_empty": "🗓️ No posts are scheduled. Reply to a message of yours with "
                           "/programar to schedule one.",
        "post.confirm_cancel": "🗑️ Cancel post #{id}? It will not be published.",
        "post.preview": "👁️ Preview of post #{id} · {target} channel · {when} ({zone})",
        "post.preview_failed": "⚠️ Telegram refused the preview of post #{id} ({error}), so it "
                               "could not be published either. Edit or cancel it.",
        "post.btn.view": "👁️ See #{id}",
        "post.btn.cancel": "🗑️ Cancel #{id}",
        "post.btn.confirm": "🗑️ Yes, cancel",
        "post.btn.keep": "↩️ No",
        "post.btn.list": "🗓️ Posts",
        "post.usage": "Usage: write the post (formatted text, or a photo with a caption) and "
                      "reply to it with\n/programar <free|vip> <YYYY-MM-DD HH:MM> "
                      "[daily|weekly|cron \"m h dom mon dow\"] [--reactions] "
                      "[--unprotected] [--protect] [--tz=Europe/Madrid]\n"
                      "Buttons: lines [text](https://…) at the end of the message.\n"
                      "Example: /programar vip 2026-05-01 20:30 weekly --reactions\n"
                      "/posts — the scheduled ones · /editar_post <id> <YYYY-MM-DD HH:MM> — "
                      "change the time",
        "post.refused.not_admin": "🔒 Only an admin can manage scheduled posts.",
        "post.refused.no_content": "✍️ Reply with /programar to your own message holding the "
                                   "post's text (or photo).",
        "post.refused.no_chat": "⚙️ That channel's id is not configured (FREE_CHAT_ID or "
                                "VIP_CHAT_ID).",
        "post.refused.empty": "✍️ The post is empty: write a text or send a photo.",
        "post.refused.text_too_long": "✂️ The text is longer than 4096 characters.",
        "post.refused.caption_too_long": "✂️ With a photo, the text may be 1024 characters "
                                         "at most.",
        "post.refused.bad_button": "🔗 Buttons are lines [text](https://…) at the end of the "
                                   "message: https links only, at most 10, texts of up to 64 "
                                   "characters.",
        "post.refused.bad_photo": "🖼️ I cannot use that photo.",
        "post.refused.bad_time": "🕰️ I cannot read that date. Use YYYY-MM-DD HH:MM, for "
                                 "example 2026-05-01 20:30.",
        "post.refused.bad_zone": "🌍 I do not know that time zone (use a name like "
                                 "Europe/Madrid).",
        "post.refused.in_past": "⏳ That time has passed. Pick a time in the future.",
        "post.refused.too_far": "📆 Posts can be scheduled at most a year ahead.",
        "post.refused.bad_cron": "🔁 That cron expression is not valid (or never fires). It "
                                 "has 5 fields: minute hour day-of-month month day-of-week, "
                                 "for example \"0 9 * * 1\" (Mondays at 9:00).",
        "post.refused.unknown_post": "🔎 There is no post #{post_id}.",
        "post.refused.not_editable": "🔒 Post #{post_id} can no longer be changed (published, "
                                     "cancelled, or being published right now).",
        "post.refused.refused": "I could not do that with the post.",
    },
)

ERRORS = ("forbidden", "rejected", "unavailable", "rate_limited")


def _button(text: str, data: str) -> dict[str, str]:
    return {"text": text, "callback_data": data}


def when_text(at: datetime | str, zone: str) -> str:
    """`01/05/2026 20:30` in the zone (seconds shown only when there are some)."""
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%d/%m/%Y %H:%M:%S" if local.second else "%d/%m/%Y %H:%M")


def target_text(language: str, target: str) -> str:
    key = f"post.target.{target}"
    return t(language, key) if key in TEXTS["es"] else target


def repeat_text(language: str, repeat: str, cron: str | None) -> str:
    if repeat in ("daily", "weekly"):
        return t(language, f"post.repeat.{repeat}")
    if repeat == "cron":
        return t(language, "post.repeat.cron", cron=cron or "")
    return ""


def flags_text(language: str, view: Any) -> str:
    flags = []
    if view.photo:
        flags.append(t(language, "post.flag.photo"))
    if view.url_buttons:
        flags.append(t(language, "post.flag.buttons", count=view.url_buttons))
    if view.reaction_buttons:
        flags.append(t(language, "post.flag.reactions"))
    if view.protect_content:
        flags.append(t(language, "post.flag.protected"))
    return " · ".join(flags)


def _list_button(language: str) -> dict[str, str]:
    return _button(t(language, "post.btn.list"), "o:list")


def list_view(language: str, views: list[Any]) -> Rendered:
    """The scheduled posts (`services.posts.PostView`s), each with 👁️ preview and 🗑️ cancel."""
    if not views:
        return Rendered(t(language, "post.list_empty"))
    lines = [t(language, "post.list", count=len(views))]
    rows: list[list[dict[str, str]]] = []
    for view in views:
        head = f"#{view.id} · {target_text(language, view.target)} · " \
               f"{when_text(view.publish_at, view.timezone)} ({view.timezone})"
        repeat = repeat_text(language, view.repeat, view.cron)
        if repeat:
            head += f" · {repeat}"
        lines.append(head)
        details = " · ".join(part for part in (f"«{view.snippet}»" if view.snippet else "",
                                              flags_text(language, view)) if part)
        if details:
            lines.append(f"   {details}")
        rows.append([_button(t(language, "post.btn.view", id=view.id), f"o:view:{view.id}"),
                     _button(t(language, "post.btn.cancel", id=view.id), f"o:cancel:{view.id}")])
    rows.append([_list_button(language)])
    return Rendered("\n".join(lines), {"inline_keyboard": rows})


def confirm_cancel(language: str, post_id: int) -> Rendered:
    return Rendered(t(language, "post.confirm_cancel", id=post_id), {"inline_keyboard": [
        [_button(t(language, "post.btn.confirm"), f"o:drop:{post_id}"),
         _button(t(language, "post.btn.keep"), "o:list")]]})


def preview_head(language: str, view: Any) -> Rendered:
    """The line above a preview: which post, where and when, repeat and flags."""
    parts = [t(language, "post.preview", id=view.id, target=target_text(language, view.target),
               when=when_text(view.publish_at, view.timezone), zone=view.timezone)]
    extra = " · ".join(part for part in (repeat_text(language, view.repeat, view.cron),
                                         flags_text(language, view)) if part)
    if extra:
        parts.append(extra)
    return Rendered("\n".join(parts))


def preview_failed(language: str, post_id: int, code: int) -> Rendered:
    return Rendered(t(language, "post.preview_failed", id=post_id, error=code),
                    {"inline_keyboard": [[_list_button(language)]]})


def usage(language: str) -> Rendered:
    return Rendered(t(language, "post.usage"))


def _told(payload: dict[str, Any]) -> bool:
    return "user_id" in payload


def _when(payload: dict[str, Any], key: str = "publish_at") -> str:
    return when_text(payload[key], payload["timezone"])


@renders("post.scheduled")
def _scheduled(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if not _told(payload):
        return None
    parts = [t(language, "post.scheduled", id=payload["post_id"], when=_when(payload),
               zone=payload["timezone"], target=target_text(language, payload["target"]))]
    repeat = repeat_text(language, payload.get("repeat", "none"), payload.get("cron"))
    if repeat:
        parts.append(t(language, "post.scheduled.repeat", repeat=repeat))
    return Rendered("\n".join(parts), {"inline_keyboard": [
        [_button(t(language, "post.btn.view", id=payload["post_id"]),
                 f"o:view:{payload['post_id']}"), _list_button(language)]]})


@renders("post.rescheduled")
def _rescheduled(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if not _told(payload):
        return None
    return Rendered(t(language, "post.rescheduled", id=payload["post_id"], when=_when(payload),
                      zone=payload["timezone"]), {"inline_keyboard": [[_list_button(language)]]})


@renders("post.cancelled")
def _cancelled(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if not _told(payload):
        return None
    return Rendered(t(language, "post.cancelled", id=payload["post_id"]),
                    {"inline_keyboard": [[_list_button(language)]]})


@renders("post.published")
def _published(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if not _told(payload):
        return None
    parts = [t(language, "post.published", id=payload["post_id"],
               target=target_text(language, payload["target"]),
               message_id=payload.get("message_id") or "?")]
    if payload.get("next_at"):
        parts.append(t(language, "post.next", when=_when(payload, "next_at"),
                       zone=payload["timezone"]))
    return Rendered("\n".join(parts))


@renders("post.failed")
def _failed(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if not _told(payload):
        return None
    code = str(payload.get("error", ""))
    kind = code if code in ERRORS else ("rejected" if code.startswith("telegram_") else "")
    error = t(language, f"post.error.{kind}") if kind else \
        t(language, "post.error.other", code=code)
    parts = [t(language, "post.failed", id=payload["post_id"],
               target=target_text(language, payload["target"]), error=error)]
    if payload.get("next_at"):
        parts.append(t(language, "post.next", when=_when(payload, "next_at"),
                       zone=payload["timezone"]))
    return Rendered("\n".join(parts), {"inline_keyboard": [[_list_button(language)]]})


@renders("post.refused")
def _refused(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if not _told(payload):
        return None
    reason = str(payload.get("reason"))
    if reason == "usage":
        return usage(language)
    key = f"post.refused.{reason}"
    if key not in TEXTS["es"]:
        key = "post.refused.refused"
    text = t(language, key, post_id=payload.get("post_id") or "?")
    if reason in ("no_content", "bad_time", "bad_cron"):
        text += "\n\n" + t(language, "post.usage")
    return Rendered(text)
