"""The story checker: the shipped story passes and has what issue 4 asks of it; each kind
of mistake (one fixture each, tests/fixtures/story/) is reported at its file and line; and
no input — random text, random YAML, mutated stories — makes the loader or the checker
raise: the answer is always OK or `file:line: message` lines."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services import content
from services.story_checker import Catalogs, StoryInvalid, check, load_checked, main
from services.story_content import (
    MAX_CALLBACK_BYTES,
    MAX_CHOICES,
    STORY_DIR,
    Problem,
    callback_length,
    display_name,
    load_paths,
    load_sources,
)
from tests.support import ROOT

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "story"
LINE = re.compile(r"(?P<file>[^:\n]+):(?P<line>[1-9][0-9]*): (?P<message>\S.*)")


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    """The real catalogs, plus two items nobody can get (neither sold, nor a reward, nor
    crafted): content/ has none, and the unobtainable-item check needs one."""
    real = Catalogs.from_content()
    return replace(real, items=real.items | {"reliquia-perdida", "copa-de-plata"})


# --- the shipped story --------------------------------------------------------------------
def test_the_shipped_story_passes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(r"story OK: \d+ fragments, \d+ choices, 2 endings, 4 lore "
                        r"\(2 pieces, 2 hints\) in 1 file", out), out


def test_the_command_runs_as_a_module() -> None:
    broken = FIXTURES / "dangling_target.yaml"
    result = subprocess.run([sys.executable, "-m", "services.story_checker", str(broken)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ("tests/fixtures/story/dangling_target.yaml:11: choice 'a.y' "
                             "leads to 'ninguna-parte', which is not a fragment\n")
    ok = subprocess.run([sys.executable, "-m", "services.story_checker"], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("story OK: "), ok.stdout + ok.stderr


def test_the_shipped_story_has_what_issue_4_asks() -> None:
    story = load_checked()
    fragments = story.fragments
    choices = [(fragment, choice) for fragment in fragments.values()
               for choice in fragment.choices]
    items = {entry.id: entry for entry in content.items()}
    assert len(fragments) >= 15
    assert len({fragment.ending for fragment in story.endings()}) >= 2
    assert all(fragment.milestone for fragment in story.endings())
    assert any(fragment.checkpoint and fragment.milestone for fragment in fragments.values())
    assert any(choice.conditions.vip for _, choice in choices)
    assert any(choice.conditions.cost > 0 for _, choice in choices)
    gated = [need for _, choice in choices for need in choice.conditions.items]
    assert any(need.item in items and need.consume for need in gated)
    recipes = story.recipes()
    assert any(len(pieces) >= 2 and target in fragments for target, pieces in recipes.items())
    assert any(entry.kind == "hint" and entry.source == "reaction"
               for entry in story.lore.values())
    flags_set = {flag for fragment in fragments.values() for flag in fragment.effects.flags.is_set}
    flags_needed = {flag for _, choice in choices for flag in choice.conditions.flags.is_set}
    assert flags_needed and flags_needed <= flags_set
    assert all(fragment.text.en for fragment in fragments.values())  # translated
    assert all(fragment.file == display_name(STORY_DIR / "lucien.yaml")
               for fragment in fragments.values())


def test_every_choice_fits_a_tamper_proof_button() -> None:
    story = load_checked()
    for fragment in story.fragments.values():
        assert len(fragment.choices) <= MAX_CHOICES
        for index, _ in enumerate(fragment.choices):
            assert callback_length(fragment.id, index) <= MAX_CALLBACK_BYTES
    assert callback_length("x" * 40, MAX_CHOICES - 1) <= MAX_CALLBACK_BYTES


# --- one fixture per kind of mistake ------------------------------------------------------
CASES: dict[str, list[tuple[int, str]]] = {
    "yaml_syntax.yaml": [(6, "not valid YAML: expected ',' or '}', but got '<scalar>' (while "
                             "parsing a flow mapping)")],
    "schema.yaml": [
        (6, "fragment 'a', choises: unknown key (a typo?)"),
        (8, "fragment 'b', text: Field required"),
        (13, "fragment 'c', choices[0].id: String should match pattern"),
        (16, "fragment 'c', choices[0].conditions.cost: Input should be greater than or equal "
             "to 0"),
    ],
    "duplicate_ids.yaml": [
        (7, "'a' has two choices with the id 'x'"),
        (11, "duplicate fragment id 'b' (first defined at tests/fixtures/story/"
             "duplicate_ids.yaml:8)"),
        (16, "duplicate lore id 'pista' (first defined at "),
    ],
    "duplicate_key.yaml": [(9, "'label' is given twice in this mapping (line 7)")],
    "dangling_target.yaml": [(11, "choice 'a.y' leads to 'ninguna-parte', which is not a "
                                  "fragment")],
    "unreachable.yaml": [(10, "'isla' can never be reached: no choice on any path from 'a'")],
    "unknown_catalog.yaml": [
        (10, "choice 'a.x' names unknown item 'unicornio' (not in content/items.yaml)"),
        (11, "choice 'a.x' requires unknown achievement 'no-existe'"),
        (12, "choice 'a.x' requires unknown mission 'tampoco'"),
        (14, "mission 'lector-semanal' has 2 objective(s), numbered from 0; there is no "
             "objective 5"),
        (15, "choice 'a.x' unlocks unknown achievement 'inventado'"),
        (20, "fragment 'b' names unknown item 'dragon'"),
    ],
    "unknown_lore.yaml": [
        (6, "fragment 'a' gives unknown lore 'fantasma'"),
        (12, "choice 'a.x' requires unknown lore 'espectro'"),
    ],
    "read_never.yaml": [(14, "choice 'a.y' requires having read 'c', which cannot come "
                             "before it on any path: the condition never holds")],
    "chose_never.yaml": [
        (14, "choice 'b.x' requires the choice 'a.no-existe', but 'a' has no choice "
             "'no-existe': the condition never holds"),
        (19, "choice 'b.y' requires the choice 'c.z', which cannot be taken before it on "
             "any path"),
    ],
    "flag_never_set.yaml": [
        (12, "choice 'a.x' requires flag 'despedida', which no effect ever sets"),
        (19, "choice 'a.y' requires flag 'saludo' both set and not set"),
    ],
    "min_level.yaml": [(9, "choice 'a.x' requires level 99, but the highest level is 8 "
                           "(content/levels.yaml): the condition never holds")],
    "item_unobtainable.yaml": [(13, "choice 'a.x' requires item 'reliquia-perdida', which "
                                    "no member can ever get")],
    "loop_without_exit.yaml": [(8, "b, c form a loop that no choice leaves and that has no "
                                   "ending")],
    "dead_end.yaml": [(8, "'b' has no choices and is not an ending")],
    "no_ending.yaml": [
        (1, "the story has no ending"),
        (3, "a, b form a loop that no choice leaves"),
    ],
    "no_start.yaml": [(1, "no file says where the story starts")],
    "bad_start.yaml": [(2, "the story starts at 'prologo', which is not a fragment")],
    "callback_budget.yaml": [
        (9, "fragment id 'un-identificador-de-fragmento-demasiado-largo' cannot travel in a "
            "choice button"),
        (12, "fragment id 'Mayusculas' cannot travel in a choice button"),
        (17, "'b' offers 9 choices; at most 8 fit as buttons"),
    ],
    "lore_recipes.yaml": [
        (21, "'sola' is the only piece that combines into 'secreto'"),
        (23, "hint 'consejo' has `combines_into`; only pieces combine"),
        (27, "lore 'perdida' can never be collected"),
        (31, "lore 'perdida' combines into 'nada', which is not a fragment"),
    ],
    "hidden_unopenable.yaml": [
        (13, "'cripta' can never be reached: no path leads to it and its lore combination "
             "needs mitad-b"),
        (19, "lore 'mitad-b' can never be collected"),
    ],
    "misplaced.yaml": [
        (7, "the first fragment cannot have conditions"),
        (8, "a milestone is paid at a checkpoint or an ending"),
        (10, "the label of choice 'x' (es) must be 1-64 characters"),
        (12, "the text of 'b' (es) is empty"),
        (13, "'b' is an ending but offers choices"),
    ],
    "hidden_by_lore.yaml": [],  # valid: reached only through its lore combination
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_mistake_is_reported_at_its_line(name: str, catalogs: Catalogs) -> None:
    path = FIXTURES / name
    problems = check(load_paths([path]), catalogs)
    expected = CASES[name]
    got = [(problem.file, problem.line, problem.message) for problem in problems]
    assert len(got) == len(expected), "\n".join(map(str, problems))
    for (file, line, message), (want_line, want_text) in zip(got, expected, strict=True):
        assert file == display_name(path) == f"tests/fixtures/story/{name}"
        assert (line, want_text in message) == (want_line, True), (line, message)


def test_every_fixture_is_covered() -> None:
    assert {path.name for path in FIXTURES.glob("*.yaml")} == set(CASES)


def test_mistakes_across_files_name_both_places(catalogs: Catalogs) -> None:
    problems = check(load_paths([FIXTURES / "two_files"]), catalogs)
    assert [str(problem) for problem in problems] == [
        "tests/fixtures/story/two_files/2-more.yaml:1: a second `start` (the story already "
        "starts at tests/fixtures/story/two_files/1-main.yaml:1)",
        "tests/fixtures/story/two_files/2-more.yaml:3: duplicate fragment id 'a' (first "
        "defined at tests/fixtures/story/two_files/1-main.yaml:3)",
    ]


def test_the_command_exits_1_with_located_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(FIXTURES / "schema.yaml"), str(FIXTURES / "missing.yaml")]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "tests/fixtures/story/missing.yaml:1: cannot be read: No such file or " \
                       "directory"
    assert len(lines) == 5 and all(LINE.fullmatch(line) for line in lines), lines
    assert "once the errors above are fixed" in captured.err  # graph checks wait for them


def test_load_checked_refuses_a_broken_story(catalogs: Catalogs) -> None:
    with pytest.raises(StoryInvalid) as raised:
        load_checked([FIXTURES / "dead_end.yaml"], catalogs)
    assert [problem.line for problem in raised.value.problems] == [8]


@pytest.mark.parametrize(("text", "line", "message"), [
    ("", 1, "the file is empty"),
    ("# only a comment\n", 1, "the file is empty"),
    ("- a\n- b\n", 1, "a story file is a mapping"),
    ("start: a\nfragments:\n  - hola\n", 3, "fragment #1: expected a mapping"),
    ("start: a\nfragments: {a: 1}\n", 2, "fragments: Input should be a valid list"),
    ("a: &x [*x]\n", 1, "an alias refers to the node that contains it"),
    ("---\nstart: a\n---\nstart: b\n", 3, "(expected a single document in the stream)"),
    ("start: a\nlore: [{id: x, kind: clue}]\n", 2, "lore 'x', kind: Input should be"),
    (b"start: a\n\xff\n", 2, "not UTF-8 text"),
    ("x: " + "[" * 200 + "]" * 200 + "\n", 1, "nested"),
])
def test_unreadable_files_say_where(text: str | bytes, line: int, message: str,
                                    catalogs: Catalogs) -> None:
    problems = check(load_sources([("t.yaml", text)]), catalogs)
    assert problems, text
    assert (problems[0].line, message in problems[0].message) == (line, True), problems[0]


def test_billion_laughs_is_refused_quickly(catalogs: Catalogs) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    problems = check(load_sources([("laughs.yaml", "\n".join(lines))]), catalogs)
    assert len(problems) == 1 and "expands to more than" in problems[0].message


# --- nothing makes it raise ---------------------------------------------------------------
def _assert_located(problems: list[Problem], name: str, text: str | bytes) -> None:
    last_line = (text.count(b"\n") if isinstance(text, bytes) else text.count("\n")) + 2
    for problem in problems:
        match = LINE.fullmatch(str(problem))
        assert match is not None, str(problem)
        assert problem.file == name and 1 <= problem.line <= last_line, str(problem)


def _run(text: str | bytes, catalogs: Catalogs) -> list[Problem]:
    loaded = load_sources([("h.yaml", text)])
    problems = check(loaded, catalogs)
    _assert_located(problems, "h.yaml", text)
    assert problems or loaded.story is not None  # OK means a story
    return problems


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12) | st.sampled_from(
        ["start", "fragments", "lore", "id", "text", "es", "choices", "target", "label",
         "conditions", "effects", "ending", "flags", "set", "items"]), children, max_size=5),
    max_leaves=30)
SLOW = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SLOW
@given(text=st.text(max_size=400) | st.binary(max_size=200))
def test_random_text_never_raises(text: str | bytes, catalogs: Catalogs) -> None:
    _run(text, catalogs)


@SLOW
@given(text=st.from_regex(r"(start: [a-z]{1,3}\n)?fragments:\n(  - id: [a-z]{1,3}\n"
                     r"(    (text|ending|choices|checkpoint): .{0,12}\n){0,4}){0,4}"
                     r"(lore:\n  - \{.{0,30}\}\n)?", fullmatch=True))
def test_random_story_like_text_never_raises(text: str, catalogs: Catalogs) -> None:
    _run(text, catalogs)


@SLOW
@given(value=json_like)
def test_random_yaml_structures_never_raise(value: Any, catalogs: Catalogs) -> None:
    _run(yaml.safe_dump(value, allow_unicode=True), catalogs)


SHIPPED = yaml.safe_load((STORY_DIR / "lucien.yaml").read_text())
INTERESTING = st.sampled_from([
    None, "", -1, 0, 99, True, [], {}, "x" * 300, "UPPER", "nowhere", "la-invitacion",
    "el-mirador", "final-el-primer-baile", "medalla-izquierda", "pista-del-reloj",
    "carta-perfumada", "llave-dorada", "lector-semanal", "primera-decision",
    "el-vestibulo.biblioteca", "el-mirador.nada", {"set": ["nunca"]}, {"es": "Hola"},
    [{"item": "ramo-de-rosas", "consume": True}], {"es": "y" * 5000},
])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_mutated_shipped_story_never_raises(data: st.DataObject, catalogs: Catalogs) -> None:
    """The shipped story with 1-3 random edits (replace, delete, duplicate): whatever the
    edit breaks is reported with a line, never raised."""
    document = copy.deepcopy(SHIPPED)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [path for path in _paths(document) if path]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if action == "replace":
            parent[path[-1]] = data.draw(INTERESTING | json_like)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
    _run(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), catalogs)
