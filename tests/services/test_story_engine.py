"""The story engine with the real SQL database and the real MongoDB-protocol server: every
condition and effect, payment once, milestones once, redelivery, stale and racing presses,
lore combined, hints from reactions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models import mongo
from models.db import read_session, unit_of_work
from models.tables import LedgerEntry, OutboxEvent, User
from services import content, inventory, missions, story, users, wallet
from services.story_content import Conditions, Story, load_sources

TEST_STORY = """
start: puerta
title: {es: Prueba}
fragments:
  - id: puerta
    text: {es: Una puerta.}
    effects: {besitos: 3}
    choices:
      - {id: abrir, label: {es: Abrir}, target: sala,
         effects: {besitos: 4, flags: {set: [abierta]}, lore: [pieza-a],
                   items: [{item: rosa-roja, quantity: 2}],
                   mission_progress: [{mission: lector-semanal, objective: 1, count: 2}],
                   unlock_achievement: [primera-decision]}}
      - {id: pagar, label: {es: Pagar}, target: tesoro, conditions: {cost: 25}}
      - {id: llave, label: {es: Llave}, target: tesoro,
         conditions: {items: [{item: carta-perfumada, consume: true}]}}
      - {id: vip, label: {es: VIP}, target: salon}
  - id: sala
    text: {es: Una sala.}
    checkpoint: true
    milestone: {besitos: 10, items: [llave-dorada]}
    effects: {lore: [pieza-b]}
    choices:
      - {id: volver, label: {es: Volver}, target: puerta}
  - id: tesoro
    text: {es: Un tesoro.}
    ending: tesoro
    milestone: {besitos: 50}
  - id: salon
    text: {es: Un salón.}
    conditions: {vip: true}
    choices:
      - {id: salir, label: {es: Salir}, target: puerta}
  - id: oculto
    text: {es: Lo oculto.}
    choices:
      - {id: salir, label: {es: Salir}, target: puerta}
lore:
  - {id: pieza-a, kind: piece, title: {es: A}, text: {es: a}, combines_into: oculto}
  - {id: pieza-b, kind: piece, title: {es: B}, text: {es: b}, combines_into: oculto}
  - {id: pista-r, kind: hint, title: {es: R}, text: {es: r}, source: reaction}
"""


@pytest.fixture(scope="module")
def tale() -> Story:
    loaded = load_sources([("test.yaml", TEST_STORY)])
    assert loaded.story is not None and not loaded.problems, loaded.problems
    return loaded.story


@pytest.fixture
def member(registered: int) -> int:
    users.ensure_state(registered, "es")
    return registered


def fund(user_id: int, amount: int, tag: str = "") -> None:
    with unit_of_work() as session:
        wallet.credit(session, user_id, amount, reason="test", key=f"test:{user_id}:{tag}")


def give(user_id: int, item_id: str, quantity: int = 1) -> None:
    with unit_of_work() as session:
        inventory.grant(session, user_id, item_id, quantity, reason="test",
                        key=f"test:{user_id}:{item_id}")


def choose(tale: Story, user_id: int, fragment: str, index: int, step: int,
           key: str) -> story.Plan:
    """The whole workflow as the tasks run it: take → move → effects → settle."""
    with unit_of_work() as session:
        plan = story.take(session, user_id, fragment, index, step, key, story=tale)
    return finish(tale, plan)


def finish(tale: Story, plan: story.Plan) -> story.Plan:
    plan = story.move(plan, story=tale)
    if plan.status in ("ok", "moved"):
        story.apply_state_effects(plan, story=tale)
        with unit_of_work() as session:
            story.settle(session, plan, story=tale)
    return plan


def where(tale: Story, user_id: int) -> story.Progress:
    return story.progress(user_id, tale)


def balance(user_id: int) -> int:
    with read_session() as session:
        return wallet.balance(session, user_id)


def event_types(user_id: int) -> list[str]:
    with read_session() as session:
        rows = session.scalars(select(OutboxEvent).where(
            OutboxEvent.type.like("story.%"))).all()
        return sorted(row.type for row in rows if row.payload.get("user_id") == user_id)


# --- conditions (each one, against facts) --------------------------------------------------

def facts(**overrides: object) -> story.Facts:
    progress = story.Progress(
        position="puerta", step=0, last={}, read=frozenset({"puerta"}),
        chose=frozenset({"puerta.abrir"}), lore=("pieza-a",), checkpoints=(), endings=(),
        unlocked=frozenset(), flags=frozenset({"abierta"}),
        achievements=frozenset({"primera-decision"}), missions_done=frozenset({"aplausos"}))
    values: dict[str, object] = {"vip": False, "level": 1, "balance": 10,
                                 "items": {"rosa-roja": 1}, "progress": progress}
    values.update(overrides)
    return story.Facts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("conditions", "reason"), [
    ({"vip": True}, "vip_only"),
    ({"min_level": 3}, "level"),
    ({"cost": 11}, "insufficient_funds"),
    ({"items": [{"item": "rosa-roja", "quantity": 2}]}, "missing_item"),
    ({"items": ["llave-dorada"]}, "missing_item"),
    ({"lore": ["pieza-b"]}, "missing_lore"),
    ({"read": ["sala"]}, "not_read"),
    ({"chose": ["puerta.pagar"]}, "not_chosen"),
    ({"flags": {"set": ["cerrada"]}}, "flags"),
    ({"flags": {"not_set": ["abierta"]}}, "flags"),
    ({"achievements": ["coleccionista"]}, "achievement"),
    ({"missions": ["constancia"]}, "mission"),
])
def test_each_condition_refuses_with_its_reason(conditions: dict, reason: str) -> None:
    assert story.unmet(Conditions.model_validate(conditions), facts()) == [reason]


@pytest.mark.parametrize("conditions", [
    {}, {"vip": False}, {"min_level": 1}, {"cost": 10}, {"items": ["rosa-roja"]},
    {"lore": ["pieza-a"]}, {"read": ["puerta"]}, {"chose": ["puerta.abrir"]},
    {"flags": {"set": ["abierta"], "not_set": ["cerrada"]}},
    {"achievements": ["primera-decision"]}, {"missions": ["aplausos"]},
])
def test_each_condition_holds_when_met(conditions: dict) -> None:
    assert story.unmet(Conditions.model_validate(conditions), facts()) == []


def test_a_vip_member_meets_vip_and_a_paid_choice_asks_no_cost_nor_consumption() -> None:
    assert story.unmet(Conditions.model_validate({"vip": True}), facts(vip=True)) == []
    paid = Conditions.model_validate({"cost": 999, "items": [{"item": "llave-dorada",
                                                              "consume": True}],
                                      "lore": [{"id": "pieza-z", "consume": True}]})
    assert story.unmet(paid, facts()) == ["insufficient_funds", "missing_item", "missing_lore"]
    assert story.unmet(paid, facts(), paid=True) == []


# --- the workflow with the real stores ------------------------------------------------------

def test_a_choice_moves_the_member_and_applies_every_effect_once(tale: Story,
                                                                  member: int) -> None:
    plan = choose(tale, member, "puerta", 0, 0, "k1")
    assert plan.status == "ok" and plan.target == "sala"
    p = where(tale, member)
    assert (p.position, p.step) == ("sala", 1)
    assert "puerta.abrir" in p.chose and "sala" in p.read and "sala" in p.checkpoints
    assert "abierta" in p.flags and set(p.lore) == {"pieza-a", "pieza-b"}
    with read_session() as session:
        held = dict(inventory.lines(session, member))
        reasons = sorted(e.reason for e in wallet.history(session, member))
    assert held == {"rosa-roja": 2, "llave-dorada": 1}
    # choice effect 4 + milestone 10 + the achievement's own reward (+20)
    assert balance(member) == 4 + 10 + 20
    assert reasons == ["achievement:primera-decision", "story-milestone:sala", "story:puerta.abrir"]
    assert event_types(member) == ["story.choice_made", "story.fragment_read",
                                   "story.milestone", "story.mission_progress"]
    state = mongo.member_state(member)
    assert state is not None and "primera-decision" not in (state.get("achievements") or {})


def test_the_whole_workflow_run_twice_changes_nothing(tale: Story, member: int) -> None:
    first = choose(tale, member, "puerta", 0, 0, "same")
    before = (balance(member), event_types(member), where(tale, member))
    again = choose(tale, member, "puerta", 0, 0, "same")  # redelivered: take sees it moved
    assert first.status == "ok" and again.status == "moved"
    assert (balance(member), event_types(member), where(tale, member)) == before
    # and a redelivered move or settle alone is harmless too
    finish(tale, first)
    assert (balance(member), event_types(member), where(tale, member)) == before


def test_a_button_of_a_turned_page_or_a_second_tap_does_not_move_again(tale: Story,
                                                                       member: int) -> None:
    choose(tale, member, "puerta", 0, 0, "tap-1")
    second = choose(tale, member, "puerta", 0, 0, "tap-2")
    assert second.status == "stale"
    assert where(tale, member).step == 1


def test_two_choices_racing_on_one_page_move_the_member_once(tale: Story, member: int) -> None:
    fund(member, 100)
    results: list[story.Plan] = []

    def press(index: int) -> None:
        results.append(choose(tale, member, "puerta", index, 0, f"race-{index}"))

    threads = [threading.Thread(target=press, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status for r in results) == ["ok", "stale"]
    p = where(tale, member)
    assert p.step == 1 and p.position == next(r.target for r in results if r.status == "ok")


def test_a_priced_choice_is_refused_without_funds_then_paid_once(tale: Story,
                                                                 member: int) -> None:
    with unit_of_work() as session, pytest.raises(story.Refused) as refused:
        story.take(session, member, "puerta", 1, 0, "poor", story=tale)
    assert refused.value.code == "insufficient_funds"
    fund(member, 30)
    choose(tale, member, "puerta", 1, 0, "rich")
    assert where(tale, member).position == "tesoro"
    assert balance(member) == 30 - 25 + 50  # the cost, then the ending's milestone
    with read_session() as session:
        costs = session.scalars(select(LedgerEntry).where(
            LedgerEntry.user_id == member, LedgerEntry.reason == "story:puerta.pagar")).all()
    assert [c.amount for c in costs] == [-25]


def test_taking_a_paid_choice_again_after_a_restart_costs_nothing(tale: Story,
                                                                  member: int) -> None:
    fund(member, 25)
    choose(tale, member, "puerta", 0, 0, "a")          # → sala (checkpoint)
    choose(tale, member, "sala", 0, 1, "b")            # → puerta
    choose(tale, member, "puerta", 1, 2, "c")          # pay 25 → tesoro
    with unit_of_work() as session:
        plan = story.jump(session, member, "restart", "sala", 3, "d", story=tale)
    finish(tale, plan)
    assert where(tale, member).position == "sala"
    paid_before = balance(member)
    choose(tale, member, "sala", 0, 4, "e")
    choose(tale, member, "puerta", 1, 5, "f")          # again: free, milestone not repaid
    assert where(tale, member).position == "tesoro"
    assert balance(member) == paid_before


def test_an_item_gated_choice_consumes_the_item_once(tale: Story, member: int) -> None:
    with unit_of_work() as session, pytest.raises(story.Refused) as refused:
        story.take(session, member, "puerta", 2, 0, "no-item", story=tale)
    assert refused.value.code == "missing_item"
    give(member, "carta-perfumada")
    choose(tale, member, "puerta", 2, 0, "with-item")
    assert where(tale, member).position == "tesoro"
    with read_session() as session:
        assert inventory.holding(session, member, "carta-perfumada") == 0


def test_a_vip_fragment_refuses_a_free_member_and_lets_a_vip_in(tale: Story,
                                                                member: int) -> None:
    with unit_of_work() as session, pytest.raises(story.Refused) as refused:
        story.take(session, member, "puerta", 3, 0, "free", story=tale)
    assert refused.value.code == "vip_only"
    with unit_of_work() as session:
        session.get(User, member).vip_until = datetime.now(UTC) + timedelta(days=1)  # type: ignore[union-attr]
    choose(tale, member, "puerta", 3, 0, "vip")
    assert where(tale, member).position == "salon"


def test_a_refusal_is_recorded_once_per_request(tale: Story, member: int) -> None:
    exc = story.Refused("vip_only", "puerta", "vip")
    for _ in range(2):
        with unit_of_work() as session:
            story.refuse(session, member, "refused-once", exc)
    assert event_types(member) == ["story.choice_refused"]


def test_combining_the_pieces_opens_the_hidden_fragment(tale: Story, member: int) -> None:
    choose(tale, member, "puerta", 0, 0, "a")  # gives pieza-a and (sala) pieza-b
    assert story.combinable(tale, where(tale, member)) == ["oculto"]
    with unit_of_work() as session:
        plan = story.jump(session, member, "combine", "oculto", 1, "join", story=tale)
    finish(tale, plan)
    p = where(tale, member)
    assert p.position == "oculto" and "oculto" in p.unlocked
    assert set(p.lore) == {"pieza-a", "pieza-b"}  # combining keeps the pieces
    assert story.combinable(tale, p) == []


def test_combining_without_every_piece_is_refused(tale: Story, member: int) -> None:
    with unit_of_work() as session, pytest.raises(story.Refused) as refused:
        story.jump(session, member, "combine", "oculto", 0, "early", story=tale)
    assert refused.value.code == "missing_lore"


def test_a_reaction_uncovers_a_hint_once_per_reward(tale: Story, member: int) -> None:
    assert story.reaction_hint(member, "reaction.rewarded:1", "es", story=tale) == "pista-r"
    assert story.reaction_hint(member, "reaction.rewarded:1", "es", story=tale) is None
    assert story.reaction_hint(member, "reaction.rewarded:2", "es", story=tale) is None
    with unit_of_work() as session:
        first = story.announce_hints(session, member, "es", story=tale)
    with unit_of_work() as session:
        second = story.announce_hints(session, member, "es", story=tale)
    assert [e.payload["lore_id"] for e in first] == ["pista-r"]
    assert [e.id for e in second] == [e.id for e in first]  # unpublished yet: offered again


def test_a_mission_progress_effect_advances_the_named_objective(tale: Story,
                                                                member: int) -> None:
    choose(tale, member, "puerta", 0, 0, "m")
    with read_session() as session:
        row = session.scalars(select(OutboxEvent).where(
            OutboxEvent.type == missions.MISSION_PROGRESS,
            OutboxEvent.id.like(f"%:{member}:%"))).one()
    event = {"id": row.id, "type": row.type, "payload": row.payload,
             "at": row.created_at.isoformat()}
    mission = next(m for m in content.missions() if m.id == "lector-semanal")
    assert missions.amounts(mission, event) == [0, 2]
    missions.record_progress(event, vip=False)
    state = mongo.member_state(member)
    slot = missions.slot(state, mission.id, missions.period_of(mission, datetime.now(UTC)))
    assert missions.progress_of(mission, slot) == (0, 2)


def test_the_shipped_story_is_loaded_checked_and_its_start_page_renders(member: int) -> None:
    from services.messages import story as story_messages

    shipped = content.story()
    assert len(shipped.fragments) >= 15 and len(shipped.endings()) >= 2
    rendered = story_messages.page("es", shipped, member, story.progress(member, shipped))
    buttons = [b for row in rendered.reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    assert buttons[0]["callback_data"].startswith(f"p:{shipped.start}:0:0:")


def test_tokens_bind_member_action_and_step() -> None:
    token = story.token(7, "c", "puerta", 0, 3)
    assert len(token) == 8 and story.token_ok(token, 7, "c", "puerta", 0, 3)
    for other in [(8, "c", "puerta", 0, 3), (7, "c", "puerta", 1, 3), (7, "c", "puerta", 0, 4),
                  (7, "r", "puerta", 0, 3)]:
        assert not story.token_ok(token, *other)
