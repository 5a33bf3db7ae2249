"""Telegram text formatting: ``parse_mode`` HTML, MarkdownV2 and legacy Markdown.

:func:`parse` turns formatted text into plain text plus MessageEntity dicts (offsets in UTF-16
code units, like Telegram) and rejects what Telegram rejects with ``can't parse entities``:
unsupported or unbalanced HTML tags, a stray ``<``, unescaped reserved MarkdownV2 characters,
and unterminated Markdown entities. This catches escaping bugs before they reach production.
"""

from __future__ import annotations

import html
import re
from typing import Any

from .spec import ApiError, bad_request

_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "code": "code", "pre": "pre", "a": "text_link",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
_ATTR = r"""\s+[a-zA-Z-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?"""
_TAG_RE = re.compile(rf"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:{_ATTR})*)\s*>")
_ATTR_RE = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_ENTITY_RE = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
_MD2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MD2_MARKERS = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough",
                "||": "spoiler"}
_MD1_MARKERS = {"*": "bold", "_": "italic"}


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def parse(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Return ``(plain_text, entities)`` for ``text`` formatted with ``parse_mode``."""
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        return _Builder(text).html()
    if mode in ("markdown", "markdownv2"):
        return _Builder(text).markdown(v2=mode == "markdownv2")
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


class _Builder:
    def __init__(self, source: str):
        self.src, self.out, self.pos, self.entities = source, [], 0, []

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.pos += utf16_len(chunk)

    def add(self, entity: dict[str, Any], start: int) -> None:
        if self.pos > start:
            self.entities.append({**entity, "offset": start, "length": self.pos - start})

    def fail(self, message: str, index: int | None = None) -> ApiError:
        if index is not None:
            message += f" at byte offset {len(self.src[:index].encode())}"
        return bad_request(f"can't parse entities: {message}")

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def html(self) -> tuple[str, list[dict[str, Any]]]:
        src, i, stack = self.src, 0, []
        while i < len(src):
            if src[i] == "<":
                m = _TAG_RE.match(src, i)
                name = m.group(2).lower() if m else ""
                if not m or name not in _HTML_TAGS:
                    shown = f' "{name}"' if name else ""
                    raise self.fail(f"Unsupported start tag{shown}", i)
                attrs = {a[0].lower(): a[1] or a[2] or a[3] for a in _ATTR_RE.findall(m.group(3))}
                if m.group(1):
                    if not stack or stack[-1][0] != name:
                        raise self.fail(f'Unmatched end tag "{name}"', i)
                    _, entity, start = stack.pop()
                    self.add(entity, start)
                else:
                    entity: dict[str, Any] = {"type": _HTML_TAGS[name]}
                    if name == "span" and attrs.get("class") != "tg-spoiler":
                        raise self.fail('Unsupported start tag "span"', i)
                    if name == "a":
                        entity["url"] = html.unescape(attrs.get("href", ""))
                    if name == "tg-emoji":
                        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
                    stack.append((name, entity, self.pos))
                i = m.end()
            elif src[i] == "&":
                m = _ENTITY_RE.match(src, i)
                self.emit(html.unescape(m.group(0)) if m else "&")
                i = m.end() if m else i + 1
            else:
                j = min((k for k in (src.find("<", i), src.find("&", i)) if k >= 0),
                        default=len(src))
                self.emit(src[i:j])
                i = j
        if stack:
            raise self.fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
        return self.result()

    def markdown(self, v2: bool) -> tuple[str, list[dict[str, Any]]]:
        src, i, stack = self.src, 0, []  # stack items: (marker, start_pos, src_index)
        markers = _MD2_MARKERS if v2 else _MD1_MARKERS
        while i < len(src):
            c = src[i]
            if v2 and c == "\\" and i + 1 < len(src):
                self.emit(src[i + 1])
                i += 2
            elif c == "`":
                fence = "```" if src.startswith("```", i) else "`"
                end = self._find_closing(fence, i + len(fence), v2)
                body = src[i + len(fence):end]
                entity: dict[str, Any] = {"type": "code" if fence == "`" else "pre"}
                if fence == "```" and "\n" in body:
                    language, body = body.split("\n", 1)
                    if language.strip():
                        entity["language"] = language.strip()
                start = self.pos
                self.emit(re.sub(r"\\([\\`])", r"\1", body) if v2 else body)
                self.add(entity, start)
                i = end + len(fence)
            elif c == "[":
                stack.append(("[", self.pos, i))
                i += 1
            elif c == "]" and stack and stack[-1][0] == "[":
                if not src.startswith("(", i + 1):
                    raise self.fail("Can't find end of a URL", i)
                end = self._find_closing(")", i + 2, v2)
                url = re.sub(r"\\(.)", r"\1", src[i + 2:end]) if v2 else src[i + 2:end]
                _, start, _ = stack.pop()
                self.add({"type": "text_link", "url": url}, start)
                i = end + 1
            elif c in "*_~|" and (marker := next(
                    (k for k in sorted(markers, key=len, reverse=True) if src.startswith(k, i)),
                    None)):
                if stack and stack[-1][0] == marker:
                    _, start, _ = stack.pop()
                    self.add({"type": markers[marker]}, start)
                elif any(item[0] == marker for item in stack):
                    raise self.fail("Can't find end of the entity", stack[-1][2])
                else:
                    stack.append((marker, self.pos, i))
                i += len(marker)
            elif v2 and c == ">" and (i == 0 or src[i - 1] == "\n"):
                i += 1  # block quotation marker: accepted, rendered as plain text
            elif v2 and c in _MD2_RESERVED:
                raise self.fail(f"Character '{c}' is reserved and must be escaped with the "
                                f"preceding '\\'")
            else:
                self.emit(c)
                i += 1
        if stack:
            raise self.fail("Can't find end of the entity starting", stack[-1][2])
        return self.result()

    def _find_closing(self, token: str, start: int, v2: bool) -> int:
        i = start
        while (i := self.src.find(token, i)) >= 0:
            if not (v2 and i > 0 and self.src[i - 1] == "\\" and
                    (i < 2 or self.src[i - 2] != "\\")):
                return i
            i += 1
        raise self.fail("Can't find end of the entity starting", start - len(token))
