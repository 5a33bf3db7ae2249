"""The story as data: fragments, choices, conditions, effects and lore, read from YAML.

Authors write `content/story/*.yaml` (the format is documented at the top of
content/story/lucien.yaml). This module reads those files into pydantic models and keeps,
for every entry, the file and line it came from, so that services/story_checker.py can say
`content/story/lucien.yaml:42: …` about any of them, schema errors included.

It checks shapes only (and merges the files: duplicate ids, one `start`). What the
fragments mean together — targets, reachability, the catalogs they name — is the checker's
job; the engine uses only a story the checker passed (`story_checker.load_checked`).

Lines are found by composing the YAML into nodes first (`yaml.SafeLoader.get_single_node`)
and walking those nodes beside the validated models; the data itself carries no markers.

The engine (services/story.py) follows these semantics, which the checker assumes:
- a choice's conditions are checked against the member's state before it is taken; the
  target fragment's own conditions are checked (and charged) together with that choice;
- effects apply once per member (fragment or choice), milestones (checkpoints, endings)
  pay once; combining lore keeps the pieces and opens the hidden fragment from anywhere;
- progress records choice ids, never button indexes; a button's token covers member,
  fragment, index and step, so a stale button cannot move anyone; `source: reaction` hints
  are granted for reaction rewards (tasks/story.py).
Not checked yet: a fragment whose every choice has conditions can strand a member who meets
none (the shipped story always leaves one open choice).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from services.content import CONTENT_DIR, Text

STORY_DIR = CONTENT_DIR / "story"

# --- the callback-data budget -------------------------------------------------------------
# A choice button carries `p:<fragment id>:<choice index>:<step>:<token>` (bot/callbacks.py),
# the token an 8-character HMAC of (member, fragment, index, step) so that nobody can press
# a choice we did not offer, nor one of a page that has turned. Telegram allows 64 bytes:
# fragment ids are short slugs, a fragment offers few choices, steps have at most 6 digits.
CALLBACK_PREFIX = "p"
TOKEN_LENGTH = 8
MAX_CALLBACK_BYTES = 64
MAX_STEP_DIGITS = 6
FRAGMENT_ID = re.compile(r"[a-z0-9-]{1,40}")
MAX_CHOICES = 8


def callback_length(fragment_id: str, index: int) -> int:
    """Bytes of the longest callback datum that addresses choice `index` of `fragment_id`."""
    datum = f"{CALLBACK_PREFIX}:{fragment_id}:{index}:{'9' * MAX_STEP_DIGITS}:{'x' * TOKEN_LENGTH}"
    return len(datum.encode("utf-8"))


# Telegram's limits for what a fragment sends: a message text, or a photo's caption.
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_LABEL = 64  # longer button labels are cut by the clients

# A YAML document may not expand (through anchors and aliases) to more nodes than this, nor
# nest deeper: a story is small, and a hostile file must not stall the checker.
MAX_NODES = 200_000
MAX_DEPTH = 60


# --- models -------------------------------------------------------------------------------
class Located(BaseModel):
    """A model that knows the file and line it was read from (`where()`), and the line of
    each of its keys (`where("target")`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    _file: str = PrivateAttr(default="")
    _line: int = PrivateAttr(default=1)
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @property
    def file(self) -> str:
        return self._file

    @property
    def line(self) -> int:
        return self._line

    def line_of(self, key: str) -> int:
        return self._lines.get(key, self._line)

    def where(self, key: str | None = None) -> tuple[str, int]:
        return self._file, self.line_of(key) if key else self._line


def _listify(value: Any) -> Any:
    """`items: llave-dorada` means `items: [llave-dorada]`: one entry needs no list."""
    return [value] if isinstance(value, str | dict) else value


def _by_id(key: str) -> Any:
    """An entry written as a bare id means `{key: id}` (e.g. `- llave-dorada`)."""
    def expand(value: Any) -> Any:
        return {key: value} if isinstance(value, str) else value
    return expand


Slug = Annotated[str, Field(pattern=r"^[a-z0-9-]{1,40}$")]
FlagName = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")]
ChoiceRef = Annotated[str, Field(pattern=r"^[a-z0-9-]{1,40}\.[a-z0-9-]{1,24}$")]


class ItemNeed(Located):
    """Units of an item the member must hold; `consume: true` takes them when it passes."""

    item: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    quantity: int = Field(default=1, gt=0, le=1000)
    consume: bool = False


class LoreNeed(Located):
    """A lore piece or hint the member must hold; `consume: true` takes it."""

    id: Slug
    consume: bool = False


class ItemGrant(Located):
    item: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    quantity: int = Field(default=1, gt=0, le=1000)


class FlagTest(Located):
    """Flags that must be set, and flags that must not be."""

    is_set: Annotated[list[FlagName], BeforeValidator(_listify)] = Field(
        default_factory=list, alias="set")
    not_set: Annotated[list[FlagName], BeforeValidator(_listify)] = Field(
        default_factory=list)


class FlagChange(Located):
    is_set: Annotated[list[FlagName], BeforeValidator(_listify)] = Field(
        default_factory=list, alias="set")
    clear: Annotated[list[FlagName], BeforeValidator(_listify)] = Field(default_factory=list)


class Conditions(Located):
    """What a choice (or entering a fragment) requires. Checked against the member's state
    before the choice is taken; `cost` besitos are paid once, when it is taken, and
    `consume: true` items and lore are taken then too."""

    vip: bool = False
    min_level: int | None = Field(default=None, ge=1)
    cost: int = Field(default=0, ge=0, le=1_000_000)
    items: Annotated[list[Annotated[ItemNeed, BeforeValidator(_by_id("item"))]],
                     BeforeValidator(_listify)] = Field(default_factory=list)
    lore: Annotated[list[Annotated[LoreNeed, BeforeValidator(_by_id("id"))]],
                    BeforeValidator(_listify)] = Field(default_factory=list)
    read: Annotated[list[str], BeforeValidator(_listify)] = Field(default_factory=list)
    chose: Annotated[list[ChoiceRef], BeforeValidator(_listify)] = Field(default_factory=list)
    flags: FlagTest = Field(default_factory=FlagTest)
    achievements: Annotated[list[Slug], BeforeValidator(_listify)] = Field(
        default_factory=list)
    missions: Annotated[list[Slug], BeforeValidator(_listify)] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.vip or self.min_level or self.cost or self.items or self.lore
                    or self.read or self.chose or self.flags.is_set or self.flags.not_set
                    or self.achievements or self.missions)


class MissionProgress(Located):
    """Progress on one objective of a mission (0-based), counted like `count` events."""

    mission: Slug
    objective: int = Field(default=0, ge=0)
    count: int = Field(default=1, gt=0, le=1000)


class Effects(Located):
    """What happens once per member: when the fragment is first read, or the choice taken."""

    besitos: int = Field(default=0, ge=0, le=1_000_000)
    items: Annotated[list[Annotated[ItemGrant, BeforeValidator(_by_id("item"))]],
                     BeforeValidator(_listify)] = Field(default_factory=list)
    lore: Annotated[list[Slug], BeforeValidator(_listify)] = Field(default_factory=list)
    flags: FlagChange = Field(default_factory=FlagChange)
    mission_progress: Annotated[list[MissionProgress], BeforeValidator(_listify)] = Field(
        default_factory=list)
    unlock_achievement: Annotated[list[Slug], BeforeValidator(_listify)] = Field(
        default_factory=list)


class Milestone(Located):
    """Paid once per member when a checkpoint or an ending is first reached."""

    besitos: int = Field(default=0, ge=0, le=1_000_000)
    items: Annotated[list[Annotated[ItemGrant, BeforeValidator(_by_id("item"))]],
                     BeforeValidator(_listify)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _pays_something(self) -> Milestone:
        if not self.besitos and not self.items:
            raise ValueError("a milestone pays besitos or items (or remove it)")
        return self


class Media(Located):
    """A photo sent with the fragment: a Telegram file id, or an http(s) URL."""

    photo: str = Field(pattern=r"^(https?://\S{1,2000}|[A-Za-z0-9_-]{20,200})$")


class Choice(Located):
    id: str = Field(pattern=r"^[a-z0-9-]{1,24}$")  # stable: progress records `fragment.id`
    label: Text
    target: str = Field(min_length=1, max_length=200)
    conditions: Conditions = Field(default_factory=Conditions)
    effects: Effects = Field(default_factory=Effects)


class Fragment(Located):
    id: str = Field(min_length=1, max_length=200)  # the checker enforces FRAGMENT_ID
    title: Text | None = None
    text: Text
    media: Media | None = None
    checkpoint: bool = False
    ending: Slug | None = None
    milestone: Milestone | None = None
    conditions: Conditions = Field(default_factory=Conditions)
    effects: Effects = Field(default_factory=Effects)
    choices: list[Choice] = Field(default_factory=list)


class LoreEntry(Located):
    """A piece (collected, combinable) or a hint (advice) for the 🎒 backpack. Every piece
    with the same `combines_into` is needed to open that (hidden) fragment. `source:
    reaction` entries are also given for reacting to channel posts."""

    id: Slug
    kind: Literal["piece", "hint"]
    title: Text
    text: Text
    source: Literal["story", "reaction"] = "story"
    combines_into: str | None = Field(default=None, min_length=1, max_length=200)


class FileHead(Located):
    """One story file: `start` (in exactly one file), `title`, `fragments`, `lore`. The
    entries are validated one by one, so one broken fragment does not hide the others."""

    start: str | None = Field(default=None, min_length=1, max_length=200)
    title: Text | None = None
    fragments: list[Any] = Field(default_factory=list)
    lore: list[Any] = Field(default_factory=list)


class Story(BaseModel):
    """Every story file merged: fragments and lore by id, in file order."""

    start: str
    start_at: tuple[str, int] = ("", 1)  # the file and line of `start`
    title: Text | None = None
    fragments: dict[str, Fragment]
    lore: dict[str, LoreEntry]
    files: list[str]

    def recipes(self) -> dict[str, frozenset[str]]:
        """Hidden fragment id → the lore pieces that, combined, open it (hints never
        combine)."""
        recipes: dict[str, set[str]] = {}
        for entry in self.lore.values():
            if entry.combines_into is not None and entry.kind == "piece":
                recipes.setdefault(entry.combines_into, set()).add(entry.id)
        return {target: frozenset(pieces) for target, pieces in recipes.items()}

    def endings(self) -> list[Fragment]:
        return [fragment for fragment in self.fragments.values() if fragment.ending]

    def choice(self, fragment_id: str, index: int) -> Choice | None:
        fragment = self.fragments.get(fragment_id)
        if fragment is None or not 0 <= index < len(fragment.choices):
            return None
        return fragment.choices[index]


# --- problems -----------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class Loaded:
    """The merged story (None when no file says where it starts), every problem found while
    reading, and the ids of fragments that failed validation (so that the checker does not
    call choices leading to them dangling)."""

    story: Story | None
    problems: list[Problem] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)
    schema_ok: bool = True


# --- reading YAML with lines --------------------------------------------------------------
class _Unreadable(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _survey(node: yaml.Node, file: str) -> list[Problem]:
    """Refuse documents that nest too deep, refer to themselves or expand (through aliases)
    beyond MAX_NODES; report keys given twice in one mapping (YAML keeps the last
    silently)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    problems: list[Problem] = []

    def size(current: yaml.Node, depth: int) -> int:
        key = id(current)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _Unreadable(_line(current), "an alias refers to the node that contains it")
        if depth > MAX_DEPTH:
            raise _Unreadable(_line(current), f"nested deeper than {MAX_DEPTH} levels")
        open_nodes.add(key)
        total = 1
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in current.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                    if key_node.value in seen:
                        problems.append(Problem(
                            file, _line(key_node), f"'{_short(key_node.value)}' is given twice "
                            f"in this mapping (line {seen[key_node.value]}); YAML keeps only "
                            f"the last one"))
                    seen.setdefault(key_node.value, _line(key_node))
                total += size(key_node, depth + 1) + size(value_node, depth + 1)
        elif isinstance(current, yaml.SequenceNode):
            for child in current.value:
                total += size(child, depth + 1)
        if total > MAX_NODES:
            raise _Unreadable(_line(current), f"expands to more than {MAX_NODES} nodes")
        open_nodes.discard(key)
        sizes[key] = total
        return total

    size(node, 0)
    return problems


def _short(value: object, limit: int = 60) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compose(text: str | bytes, file: str) -> tuple[yaml.Node | None, Any, list[Problem]]:
    """(root node, data, warnings) of one YAML document; raises _Unreadable."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _Unreadable(text.count(b"\n", 0, exc.start) + 1,
                              "not UTF-8 text") from exc
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # it reads (and may refuse) the first characters
        node = loader.get_single_node()
        if node is None:
            return None, None, []
        problems = _survey(node, file)
        return node, loader.construct_document(node), problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = exc.problem or exc.context or "unreadable"
        if exc.problem and exc.context:
            reason += f" ({exc.context})"
        raise _Unreadable(line, f"not valid YAML: {reason}") from exc
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else 1
        reason = getattr(exc, "reason", None) or exc.__class__.__name__
        raise _Unreadable(line, f"not valid YAML: {reason}") from exc
    except RecursionError as exc:
        raise _Unreadable(1, "not valid YAML: nested too deeply") from exc
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date like 2024-13-45
        raise _Unreadable(1, f"not valid YAML: a value cannot be read "
                             f"({exc.__class__.__name__})") from exc
    finally:
        if loader is not None:
            loader.dispose()


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        found = None
        for key_node, value_node in node.value:  # the last one wins, as in YAML
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                found = value_node
        return found
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
            and 0 <= part < len(node.value):
        return node.value[part]
    return None


def _key_line(node: yaml.Node, key: str) -> int | None:
    if isinstance(node, yaml.MappingNode):
        lines = [_line(k) for k, _ in node.value
                 if isinstance(k, yaml.ScalarNode) and k.value == key]
        if lines:
            return lines[-1]
    return None


def _line_at(node: yaml.Node, loc: Iterable[str | int]) -> int:
    """The line of the deepest node on the path `loc` (a pydantic error location); parts
    that name no node (union tags, a missing key) are skipped."""
    line = _line(node)
    for part in loc:
        child = _child(node, part)
        if child is None:
            key_line = _key_line(node, str(part))
            line = key_line if key_line is not None else line
            continue
        key_line = _key_line(node, str(part))
        node, line = child, key_line if key_line is not None else _line(child)
    return line


def _attach(value: Any, node: yaml.Node | None, file: str, parent: Located | None) -> None:
    """Give every Located model in `value` its file and lines, from `node` when the YAML
    has one for it, else from its parent (a default like an absent `conditions`)."""
    if isinstance(value, list):
        for index, entry in enumerate(value):
            child = node.value[index] if isinstance(node, yaml.SequenceNode) \
                and index < len(node.value) else node  # `items: x` shorthand: the scalar
            _attach(entry, child, file, parent)
        return
    if not isinstance(value, Located):
        return
    value._file = file
    if node is not None:
        value._line = _line(node)
    elif parent is not None:
        value._line = parent._line
    aliases = {info.alias or name: name for name, info in type(value).model_fields.items()}
    children: dict[str, yaml.Node] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value in aliases:
                value._lines[key_node.value] = _line(key_node)
                value._lines[aliases[key_node.value]] = _line(key_node)
                children[aliases[key_node.value]] = value_node
    for name in type(value).model_fields:
        _attach(getattr(value, name), children.get(name), file, value)


def _describe(loc: tuple[str | int, ...], raw: Any) -> str:
    """`fragment 'el-mirador', choices[2].target` for an error location."""
    parts: list[str] = []
    rest = list(loc)
    if len(rest) >= 2 and rest[0] in ("fragments", "lore") and isinstance(rest[1], int):
        section, index = rest.pop(0), rest.pop(0)
        entry = raw[section][index] if isinstance(raw, dict) else None
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        kind = "fragment" if section == "fragments" else "lore"
        parts.append(f"{kind} '{_short(entry_id, 40)}'" if isinstance(entry_id, str)
                     else f"{kind} #{index + 1}")
    path = ""
    for part in rest:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[a-z_]+", part):
            path += f".{part}" if path else part
    if path:
        parts.append(path)
    return ", ".join(parts)


def _validation_problems(exc: ValidationError, prefix: tuple[str | int, ...],
                         root: yaml.Node, raw: Any, file: str) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = prefix + tuple(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (a typo?)"
        elif error["type"] in ("model_type", "model_attributes_type", "dict_type"):
            message = "expected a mapping (key: value lines)" if len(loc) else \
                "a story file is a mapping with `start`, `title`, `fragments` and `lore`"
        where = _describe(loc, raw)
        problems.append(Problem(file, _line_at(root, loc),
                                f"{where}: {message}" if where else message))
    return problems


_FRAGMENT = TypeAdapter(Fragment)
_LORE = TypeAdapter(LoreEntry)


@dataclass
class _File:
    name: str
    head: FileHead | None = None
    fragments: list[Fragment] = field(default_factory=list)
    lore: list[LoreEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)
    schema_ok: bool = True


def parse_file(name: str, text: str | bytes) -> _File:
    """One story file read and validated, entry by entry, with every problem located."""
    parsed = _File(name)
    try:
        root, raw, parsed.problems = _compose(text, name)
    except _Unreadable as exc:
        parsed.problems.append(Problem(name, exc.line, exc.message))
        parsed.schema_ok = False
        return parsed
    if root is None:
        parsed.problems.append(Problem(name, 1, "the file is empty"))
        parsed.schema_ok = False
        return parsed
    try:
        head = FileHead.model_validate(raw)
    except ValidationError as exc:
        parsed.problems += _validation_problems(exc, (), root, raw, name)
        parsed.schema_ok = False
        return parsed
    _attach(head, root, name, None)
    parsed.head = head
    for section, adapter, into in (("fragments", _FRAGMENT, parsed.fragments),
                                   ("lore", _LORE, parsed.lore)):
        section_node = _child(root, section)
        for index, entry in enumerate(getattr(head, section)):
            try:
                model = adapter.validate_python(entry)
            except ValidationError as exc:
                parsed.problems += _validation_problems(exc, (section, index), root, raw, name)
                parsed.schema_ok = False
                if section == "fragments" and isinstance(entry, dict) \
                        and isinstance(entry.get("id"), str):
                    parsed.broken.add(entry["id"])
                continue
            entry_node = _child(section_node, index) if section_node is not None else None
            _attach(model, entry_node, name, head)
            into.append(model)
    return parsed


def merge(files: list[_File]) -> Loaded:
    """The files' entries as one story: duplicate ids and a missing or repeated `start`
    are problems (the first definition is kept)."""
    loaded = Loaded(story=None)
    fragments: dict[str, Fragment] = {}
    lore: dict[str, LoreEntry] = {}
    start: tuple[str, FileHead] | None = None
    title: Text | None = None
    for parsed in files:
        loaded.problems += parsed.problems
        loaded.broken |= parsed.broken
        loaded.schema_ok &= parsed.schema_ok
        head = parsed.head
        if head is not None and head.start is not None:
            if start is None:
                start = (head.start, head)
            else:
                first = start[1]
                loaded.problems.append(Problem(
                    parsed.name, head.line_of("start"),
                    f"a second `start` (the story already starts at "
                    f"{first.file}:{first.line_of('start')})"))
        if head is not None and head.title is not None and title is None:
            title = head.title
        for kind, entries, known in (("fragment", parsed.fragments, fragments),
                                     ("lore", parsed.lore, lore)):
            for entry in entries:
                if entry.id in known:
                    first = known[entry.id]
                    loaded.problems.append(Problem(
                        entry.file, entry.line_of("id"),
                        f"duplicate {kind} id '{_short(entry.id, 40)}' (first defined at "
                        f"{first.file}:{first.line_of('id')})"))
                else:
                    known[entry.id] = entry  # type: ignore[assignment]
    if start is None:
        if loaded.schema_ok and files:
            loaded.problems.append(Problem(files[0].name, 1, "no file says where the story "
                                                             "starts (`start: <fragment id>`)"))
        return loaded
    loaded.story = Story(start=start[0], start_at=start[1].where("start"), title=title,
                         fragments=fragments, lore=lore, files=[parsed.name for parsed in files])
    return loaded


def display_name(path: Path) -> str:
    """`content/story/lucien.yaml` when under the working directory, else the path."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


def story_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The files named, a directory meaning its `*.yaml` / `*.yml` files, sorted."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir()
                              if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            yield path


def load_sources(sources: Iterable[tuple[str, str | bytes]]) -> Loaded:
    """The story read from (name, text) pairs: what the tests and the checker use."""
    return merge([parse_file(name, text) for name, text in sources])


def load_paths(paths: Iterable[Path] | None = None) -> Loaded:
    """The story read from files and directories (default: content/story/)."""
    sources: list[tuple[str, str | bytes]] = []
    problems: list[Problem] = []
    for path in story_files(list(paths) if paths is not None else [STORY_DIR]):
        name = display_name(path)
        try:
            sources.append((name, path.read_bytes()))
        except OSError as exc:
            problems.append(Problem(name, 1, f"cannot be read: {exc.strerror or exc}"))
    if not sources and not problems:
        problems.append(Problem(display_name(STORY_DIR) if paths is None else "story", 1,
                                "no story files (*.yaml) found"))
    loaded = load_sources(sources)
    loaded.problems = problems + loaded.problems
    loaded.schema_ok &= not problems
    return loaded
