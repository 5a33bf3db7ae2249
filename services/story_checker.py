"""The story checker: what is wrong with the story files, before members see it.

    python -m services.story_checker [paths…]      (default: content/story/)

prints every problem as `file:line: message` and exits 1, or prints a one-line summary and
exits 0. The test suite runs it on the shipped story (tests/services/test_story_checker.py),
and the engine uses only a story it passed (`load_checked`).

Checks, besides the schema (services/story_content.py): duplicate ids; choices leading
nowhere; fragments no path reaches (a hidden fragment counts as reached when the lore
pieces that open it can all be collected); items, achievements, missions and lore that do
not exist; conditions that can never hold (a fragment read or a choice taken that cannot
come before, a choice that does not exist, a flag nothing sets, a level above the highest,
an item or lore piece nobody can get); loops no choice leaves; fragments without choices
that are not endings; a story without endings; ids and choice counts that do not fit a
tamper-proof button (`p:<fragment>:<choice>:<token>`, 64 bytes).

The graph questions over-approximate what members can do (conditions are ignored when
following choices), so a reported problem is a real one; a subtle one may go unreported.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.story_content import (
    FRAGMENT_ID,
    MAX_CALLBACK_BYTES,
    MAX_CAPTION,
    MAX_CHOICES,
    MAX_LABEL,
    MAX_TEXT,
    Choice,
    Conditions,
    Effects,
    Fragment,
    Loaded,
    Located,
    Problem,
    Story,
    callback_length,
    load_paths,
)


@dataclass(frozen=True)
class Catalogs:
    """What the story may name from the other catalogs (services/content.py)."""

    items: frozenset[str]
    achievements: frozenset[str]
    missions: Mapping[str, int]  # mission id → number of objectives
    max_level: int
    obtainable_items: frozenset[str]  # sold, a mission/achievement reward or a recipe output

    @classmethod
    def from_content(cls) -> Catalogs:
        """From the catalogs in use (raises services.content.CatalogError)."""
        from services import content

        return cls.from_catalogs({"items": content.items(), "missions": content.missions(),
                                  "achievements": content.achievements(),
                                  "levels": content.levels(), "recipes": content.recipes()}
                                 .__getitem__)

    @classmethod
    def from_catalogs(cls, get: Callable[[str], tuple[Any, ...]]) -> Catalogs:
        """From catalogs by name (`get("items")`…), e.g. fresh ones being loaded."""
        items, missions, achievements = get("items"), get("missions"), get("achievements")
        rewards = {reward.item for entry in (*missions, *achievements)
                   for reward in entry.reward.items}
        crafted = {recipe.output.item for recipe in get("recipes")}
        sold = {entry.id for entry in items if entry.for_sale}
        return cls(items=frozenset(entry.id for entry in items),
                   achievements=frozenset(entry.id for entry in achievements),
                   missions={entry.id: len(entry.objectives) for entry in missions},
                   max_level=max((entry.level for entry in get("levels")), default=1),
                   obtainable_items=frozenset(sold | rewards | crafted))


class StoryInvalid(ValueError):
    """The story has problems (each `file:line: message`)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class Site:
    """Where conditions and effects live: a fragment (choice None) or one of its choices."""

    fragment: Fragment
    choice: Choice | None
    conditions: Conditions
    effects: Effects

    @property
    def name(self) -> str:
        if self.choice is None:
            return f"fragment '{self.fragment.id}'"
        return f"choice '{self.fragment.id}.{self.choice.id}'"


def sites(story: Story) -> Iterator[Site]:
    for fragment in story.fragments.values():
        yield Site(fragment, None, fragment.conditions, fragment.effects)
        for choice in fragment.choices:
            yield Site(fragment, choice, choice.conditions, choice.effects)


def _at(model: Located, key: str | None, message: str) -> Problem:
    file, line = model.where(key)
    return Problem(file, line, message)


# --- checks that need one entry and the catalogs ------------------------------------------
def _check_fragment(fragment: Fragment, story: Story) -> Iterator[Problem]:
    if not FRAGMENT_ID.fullmatch(fragment.id):
        yield _at(fragment, "id", f"fragment id '{fragment.id[:60]}' cannot travel in a choice "
                  f"button: use at most 40 characters of a-z, 0-9 and '-' "
                  f"(p:<fragment>:<choice>:<token> must fit in {MAX_CALLBACK_BYTES} bytes)")
    elif len(fragment.choices) > MAX_CHOICES:
        yield _at(fragment, "choices", f"'{fragment.id}' offers {len(fragment.choices)} "
                  f"choices; at most {MAX_CHOICES} fit as buttons")
    else:
        for index, choice in enumerate(fragment.choices):
            if callback_length(fragment.id, index) > MAX_CALLBACK_BYTES:
                yield _at(choice, None, f"choice {index} of '{fragment.id}' does not fit in "
                          f"a {MAX_CALLBACK_BYTES}-byte button")
    seen: set[str] = set()
    for choice in fragment.choices:
        if choice.id in seen:
            yield _at(choice, "id", f"'{fragment.id}' has two choices with the id "
                      f"'{choice.id}'")
        seen.add(choice.id)
    limit = MAX_CAPTION if fragment.media is not None else MAX_TEXT
    for language, text in (("es", fragment.text.es), ("en", fragment.text.en)):
        if text is None:
            continue
        if not text.strip():
            yield _at(fragment, "text", f"the text of '{fragment.id}' ({language}) is empty")
        elif len(text) > limit:
            what = "a photo caption" if fragment.media is not None else "a message"
            yield _at(fragment, "text", f"the text of '{fragment.id}' ({language}) has "
                      f"{len(text)} characters; {what} holds at most {limit}")
    for choice in fragment.choices:
        for language, label in (("es", choice.label.es), ("en", choice.label.en)):
            if label is not None and not 1 <= len(label.strip()) <= MAX_LABEL:
                yield _at(choice, "label", f"the label of choice '{choice.id}' ({language}) "
                          f"must be 1-{MAX_LABEL} characters")
    if fragment.ending and fragment.choices:
        yield _at(fragment, "ending", f"'{fragment.id}' is an ending but offers choices; an "
                  f"ending closes the story (members restart from a checkpoint)")
    if not fragment.ending and not fragment.choices:
        yield _at(fragment, None, f"'{fragment.id}' has no choices and is not an ending: a "
                  f"member would be stuck there")
    if fragment.milestone is not None and not (fragment.checkpoint or fragment.ending):
        yield _at(fragment, "milestone", f"a milestone is paid at a checkpoint or an ending; "
                  f"mark '{fragment.id}' `checkpoint: true` or give it an `ending`")
    if fragment.id == story.start and not fragment.conditions.empty:
        yield _at(fragment, "conditions", "the first fragment cannot have conditions: every "
                  "member starts there")


def _check_references(site: Site, story: Story, catalogs: Catalogs,
                      broken: set[str]) -> Iterator[Problem]:
    known = set(story.fragments) | broken
    conditions, effects = site.conditions, site.effects
    if site.choice is not None and site.choice.target not in known:
        yield _at(site.choice, "target", f"{site.name} leads to "
                  f"'{site.choice.target[:60]}', which is not a fragment")
    for fragment_id in conditions.read:
        if fragment_id not in known:
            yield _at(conditions, "read", f"{site.name} requires having read "
                      f"'{fragment_id[:60]}', which is not a fragment")
    for ref in conditions.chose:
        fragment_id, choice_id = ref.split(".")
        fragment = story.fragments.get(fragment_id)
        if fragment is None and fragment_id not in broken:
            yield _at(conditions, "chose", f"{site.name} requires the choice '{ref}', but "
                      f"'{fragment_id}' is not a fragment")
        elif fragment is not None and all(c.id != choice_id for c in fragment.choices):
            yield _at(conditions, "chose", f"{site.name} requires the choice '{ref}', but "
                      f"'{fragment_id}' has no choice '{choice_id}': the condition never "
                      f"holds")
    for need in conditions.lore:
        if need.id not in story.lore:
            yield _at(need, None, f"{site.name} requires unknown lore '{need.id}'")
    for lore_id in effects.lore:
        if lore_id not in story.lore:
            yield _at(effects, "lore", f"{site.name} gives unknown lore '{lore_id}'")
    grants = list(effects.items)
    if site.choice is None and site.fragment.milestone is not None:
        grants += site.fragment.milestone.items
    for entry in (*conditions.items, *grants):
        if entry.item not in catalogs.items:
            yield _at(entry, None, f"{site.name} names unknown item '{entry.item}' (not in "
                      f"content/items.yaml)")
    for achievement in conditions.achievements:
        if achievement not in catalogs.achievements:
            yield _at(conditions, "achievements", f"{site.name} requires unknown achievement "
                      f"'{achievement}' (not in content/achievements.yaml)")
    for achievement in effects.unlock_achievement:
        if achievement not in catalogs.achievements:
            yield _at(effects, "unlock_achievement", f"{site.name} unlocks unknown achievement"
                      f" '{achievement}' (not in content/achievements.yaml)")
    for mission in conditions.missions:
        if mission not in catalogs.missions:
            yield _at(conditions, "missions", f"{site.name} requires unknown mission "
                      f"'{mission}' (not in content/missions.yaml)")
    for progress in effects.mission_progress:
        objectives = catalogs.missions.get(progress.mission)
        if objectives is None:
            yield _at(progress, None, f"{site.name} progresses unknown mission "
                      f"'{progress.mission}' (not in content/missions.yaml)")
        elif progress.objective >= objectives:
            yield _at(progress, "objective", f"mission '{progress.mission}' has "
                      f"{objectives} objective(s), numbered from 0; there is no objective "
                      f"{progress.objective}")
    if conditions.min_level is not None and conditions.min_level > catalogs.max_level:
        yield _at(conditions, "min_level", f"{site.name} requires level "
                  f"{conditions.min_level}, but the highest level is {catalogs.max_level} "
                  f"(content/levels.yaml): the condition never holds")
    both = set(conditions.flags.is_set) & set(conditions.flags.not_set)
    for flag in sorted(both):
        yield _at(conditions.flags, "not_set", f"{site.name} requires flag '{flag}' both set "
                  f"and not set: the condition never holds")


def _check_lore(story: Story, broken: set[str]) -> Iterator[Problem]:
    recipes = story.recipes()
    for entry in story.lore.values():
        target = entry.combines_into
        if target is None:
            continue
        if entry.kind == "hint":
            yield _at(entry, "kind", f"hint '{entry.id}' has `combines_into`; only pieces "
                      f"combine (make it `kind: piece`)")
        if target not in story.fragments and target not in broken:
            yield _at(entry, "combines_into", f"lore '{entry.id}' combines into "
                      f"'{target[:60]}', which is not a fragment")
        elif entry.kind == "piece" and len(recipes[target]) < 2:
            yield _at(entry, "combines_into", f"'{entry.id}' is the only piece that combines "
                      f"into '{target}': a combination needs two pieces or more")


def _check_story(story: Story, loaded: Loaded) -> Iterator[Problem]:
    """The start and the endings (once every fragment passed the schema: a broken one
    may be the start or an ending)."""
    file, line = story.start_at
    if story.start not in story.fragments and loaded.schema_ok:
        yield Problem(file, line, f"the story starts at '{story.start[:60]}', which is not a "
                                  f"fragment")
    endings: dict[str, Fragment] = {}
    for fragment in story.endings():
        assert fragment.ending is not None
        first = endings.setdefault(fragment.ending, fragment)
        if first is not fragment:
            yield _at(fragment, "ending", f"duplicate ending id '{fragment.ending}' (also "
                      f"'{first.id}' at {first.file}:{first.line_of('ending')})")
    if not endings and loaded.schema_ok:
        yield Problem(file, line, "the story has no ending: give at least one fragment "
                                  "`ending: <id>`")


# --- checks over the whole graph ----------------------------------------------------------
class Graph:
    """Choices as edges (conditions ignored), plus `jumps`: combining lore opens a hidden
    fragment from wherever the member holds every piece."""

    def __init__(self, story: Story) -> None:
        self.story = story
        self.edges: dict[str, set[str]] = {
            fragment.id: {choice.target for choice in fragment.choices
                          if choice.target in story.fragments}
            for fragment in story.fragments.values()}
        self.recipes = {target: pieces for target, pieces in story.recipes().items()
                        if target in story.fragments}
        # Where a member holds each lore id: the fragment whose effects give it, or the
        # target of the choice whose effects give it.
        self.holding: dict[str, set[str]] = {}
        self.giving: dict[str, set[str]] = {}  # lore id → fragments where it is given
        for site in sites(story):
            for lore_id in site.effects.lore:
                self.giving.setdefault(lore_id, set()).add(site.fragment.id)
                held_at = site.fragment.id if site.choice is None else site.choice.target
                if held_at in story.fragments:
                    self.holding.setdefault(lore_id, set()).add(held_at)
        self.reached = self._reach()
        self.full = self._with_jumps()
        self._reverse: dict[str, set[str]] = {}
        for source, targets in self.full.items():
            for target in targets:
                self._reverse.setdefault(target, set()).add(source)
        self._ancestors: dict[str, set[str]] = {}

    def from_reaction(self, lore_id: str) -> bool:
        entry = self.story.lore.get(lore_id)
        return entry is not None and entry.source == "reaction"

    def collectable(self, lore_id: str, reached: set[str]) -> bool:
        return self.from_reaction(lore_id) or \
            bool(self.giving.get(lore_id, set()) & reached)

    def _closure(self, seeds: Iterable[str], edges: Mapping[str, set[str]],
                 into: set[str] | None = None) -> set[str]:
        seen = set() if into is None else into
        stack = [seed for seed in seeds if seed not in seen]
        seen.update(stack)
        while stack:
            for target in edges.get(stack.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return seen

    def _reach(self) -> set[str]:
        if self.story.start not in self.story.fragments:
            return set()
        reached = self._closure([self.story.start], self.edges)
        changed = True
        while changed:
            changed = False
            for target, pieces in self.recipes.items():
                if target not in reached and all(self.collectable(p, reached) for p in pieces):
                    self._closure([target], self.edges, reached)
                    changed = True
        return reached

    def _with_jumps(self) -> dict[str, set[str]]:
        """The edges plus, for each hidden fragment, an edge from every reached fragment
        where a member may hold all its pieces (found again until nothing changes)."""
        full = {source: set(targets) for source, targets in self.edges.items()}
        changed = True
        while changed:
            changed = False
            for target, pieces in self.recipes.items():
                if target not in self.reached:
                    continue
                sources = set(self.reached)
                for piece in pieces:
                    if not self.from_reaction(piece):
                        sources &= self._closure(self.holding.get(piece, ()), full)
                for source in sources:
                    if target not in full[source]:
                        full[source].add(target)
                        changed = True
        return full

    def ancestors(self, fragment_id: str) -> set[str]:
        """Reached fragments from which `fragment_id` can be reached (itself included)."""
        if fragment_id not in self._ancestors:
            self._ancestors[fragment_id] = \
                self._closure([fragment_id], self._reverse) & self.reached
        return self._ancestors[fragment_id]

    def predecessors(self, fragment_id: str) -> set[str]:
        return {source for source in self.reached if fragment_id in self.full[source]}


def _check_reachable(graph: Graph) -> Iterator[Problem]:
    story = graph.story
    for fragment in story.fragments.values():
        if fragment.id in graph.reached:
            continue
        pieces = graph.recipes.get(fragment.id)
        if pieces:
            missing = sorted(p for p in pieces if not graph.collectable(p, graph.reached))
            yield _at(fragment, None, f"'{fragment.id}' can never be reached: no path leads "
                      f"to it and its lore combination needs {', '.join(missing)}, which "
                      f"no reachable fragment gives")
        else:
            yield _at(fragment, None, f"'{fragment.id}' can never be reached: no choice on "
                      f"any path from '{story.start}' leads to it")


def _strong_components(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (stories can be long chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def _check_loops(graph: Graph) -> Iterator[Problem]:
    story = graph.story
    order = {fragment_id: n for n, fragment_id in enumerate(story.fragments)}
    for component in _strong_components(graph.edges):
        members = set(component)
        if len(component) == 1 and component[0] not in graph.edges[component[0]]:
            continue
        leaves = any(graph.edges[member] - members for member in component)
        if leaves or any(story.fragments[member].ending for member in component):
            continue
        component.sort(key=order.__getitem__)
        first = story.fragments[component[0]]
        yield _at(first, None, f"{', '.join(component)} form a loop that no choice leaves "
                  f"and that has no ending: a member who enters it is stuck")


def _check_never_holds(graph: Graph, catalogs: Catalogs) -> Iterator[Problem]:
    story = graph.story
    flags_set = {flag for site in sites(story) for flag in site.effects.flags.is_set}
    story_items = {grant.item for site in sites(story) for grant in site.effects.items}
    story_items |= {grant.item for fragment in story.fragments.values()
                    if fragment.milestone is not None for grant in fragment.milestone.items}
    obtainable = catalogs.obtainable_items | story_items
    for site in sites(story):
        fragment, conditions = site.fragment, site.conditions
        if fragment.id not in graph.reached:
            continue  # reported as unreachable already
        # A choice's conditions are checked at its fragment; a fragment's when a choice
        # (or a lore combination) leading to it is taken, at one of its predecessors.
        places = {fragment.id} if site.choice is not None else graph.predecessors(fragment.id)
        for read in conditions.read:
            if read in story.fragments and places and \
                    not any(read in graph.ancestors(place) for place in places):
                yield _at(conditions, "read", f"{site.name} requires having read '{read}', "
                          f"which cannot come before it on any path: the condition never "
                          f"holds")
        for ref in conditions.chose:
            source_id, choice_id = ref.split(".")
            source = story.fragments.get(source_id)
            choice = next((c for c in source.choices if c.id == choice_id), None) \
                if source is not None else None
            if choice is None or choice.target not in story.fragments or not places:
                continue
            if source_id not in graph.reached or \
                    not any(choice.target in graph.ancestors(place) for place in places):
                yield _at(conditions, "chose", f"{site.name} requires the choice '{ref}', "
                          f"which cannot be taken before it on any path: the condition "
                          f"never holds")
        for flag in conditions.flags.is_set:
            if flag not in flags_set:
                yield _at(conditions.flags, "set", f"{site.name} requires flag '{flag}', "
                          f"which no effect ever sets: the condition never holds")
        for need in conditions.items:
            if need.item in catalogs.items and need.item not in obtainable:
                yield _at(need, None, f"{site.name} requires item '{need.item}', which no "
                          f"member can ever get (not for sale; no reward, recipe or story "
                          f"effect gives it)")
        for need in conditions.lore:
            if need.id in story.lore and not graph.collectable(need.id, graph.reached):
                yield _at(need, None, f"{site.name} requires lore '{need.id}', which no "
                          f"reachable fragment or choice gives and which is not "
                          f"`source: reaction`")
    for entry in story.lore.values():
        if entry.source != "reaction" and entry.id not in graph.giving:
            yield _at(entry, None, f"lore '{entry.id}' can never be collected: no effect "
                      f"gives it and it is not `source: reaction`")


# --- the whole check ----------------------------------------------------------------------
def check(loaded: Loaded, catalogs: Catalogs) -> list[Problem]:
    """Every problem of a loaded story, sorted by file and line. The graph checks run only
    on a story whose every entry passed the schema (a broken fragment's choices are
    unknown, so what is reachable could not be told)."""
    problems = list(loaded.problems)
    story = loaded.story
    if story is None and not problems:
        problems.append(Problem("story", 1, "no story files"))
    if story is not None:
        for fragment in story.fragments.values():
            problems += _check_fragment(fragment, story)
        for site in sites(story):
            problems += _check_references(site, story, catalogs, loaded.broken)
        problems += _check_lore(story, loaded.broken)
        problems += _check_story(story, loaded)
        if loaded.schema_ok and story.start in story.fragments:
            graph = Graph(story)
            problems += _check_reachable(graph)
            problems += _check_loops(graph)
            problems += _check_never_holds(graph, catalogs)
    return sorted(set(problems))


def summary(story: Story) -> str:
    choices = sum(len(fragment.choices) for fragment in story.fragments.values())
    pieces = sum(entry.kind == "piece" for entry in story.lore.values())
    def count(number: int, what: str) -> str:
        return f"{number} {what}" + ("" if number == 1 else "s")

    return (f"story OK: {count(len(story.fragments), 'fragment')}, {count(choices, 'choice')}, "
            f"{count(len(story.endings()), 'ending')}, {len(story.lore)} lore "
            f"({count(pieces, 'piece')}, {count(len(story.lore) - pieces, 'hint')}) in "
            f"{count(len(story.files), 'file')}")


def load_checked(paths: Iterable[Path] | None = None,
                 catalogs: Catalogs | None = None) -> Story:
    """The story from `paths` (default content/story/), or StoryInvalid with its
    problems."""
    loaded = load_paths(paths)
    problems = check(loaded, catalogs or Catalogs.from_content())
    if problems or loaded.story is None:
        raise StoryInvalid(problems)
    return loaded.story


def main(argv: list[str] | None = None) -> int:
    from services.content import CatalogError

    args = sys.argv[1:] if argv is None else argv
    loaded = load_paths([Path(arg) for arg in args] if args else None)
    try:
        catalogs = Catalogs.from_content()
    except CatalogError as exc:
        sys.stdout.write(f"content/{exc.file}:1: cannot check the story against it: "
                         f"{exc.problem}\n")
        return 1
    problems = check(loaded, catalogs)
    sys.stdout.writelines(f"{problem}\n" for problem in problems)
    if problems or loaded.story is None:
        if not loaded.schema_ok:
            sys.stderr.write("(the checks over the whole story run once the errors above "
                             "are fixed)\n")
        return 1
    sys.stdout.write(summary(loaded.story) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
