"""Where the persona, the caller's system message and the starter message go."""

from __future__ import annotations

from datetime import UTC, datetime

from serika.characters.model import Character
from serika.characters.persona import persona_prompt, with_persona
from serika.characters.terms import prefix_upper_bound, terms_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _character(**changes: object) -> Character:
    base = {
        "id": "chr_x",
        "owner_id": "usr_1",
        "creator": "ann",
        "name": "Quill",
        "description": "An owl",
        "system_prompt": "You are Quill, an owl tutor.",
        "personality": "patient",
        "scenario": "a library",
        "starter_message": "Hoo! Hello.",
        "tags": (),
        "is_nsfw": False,
        "is_public": True,
        "avatar": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    base.update(changes)
    return Character(**base)  # type: ignore[arg-type]


def test_persona_carries_prompt_personality_and_scenario() -> None:
    text = persona_prompt(_character())
    assert text.startswith("You are Quill, an owl tutor.")
    assert "patient" in text and "a library" in text
    assert persona_prompt(_character(system_prompt="", personality="", scenario="")) == (
        "You are Quill."
    )


def test_order_persona_then_caller_system_then_starter_then_conversation() -> None:
    messages = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hi"},
    ]
    result = with_persona(_character(), messages)
    assert [m["role"] for m in result] == ["system", "system", "assistant", "user"]
    assert result[1]["content"] == "Answer in French."
    assert result[2]["content"] == "Hoo! Hello."


def test_no_starter_once_the_conversation_has_an_assistant_turn() -> None:
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Again"},
    ]
    result = with_persona(_character(), messages)
    assert [m["role"] for m in result] == ["system", "user", "assistant", "user"]
    assert with_persona(_character(starter_message=""), messages[:1])[1]["role"] == "user"


def test_search_terms() -> None:
    assert terms_for(["Captain Mara", "mara's ship", "sci-fi"]) == [
        "captain",
        "mara",
        "s",
        "ship",
        "sci",
        "fi",
    ]
    assert prefix_upper_bound("mara") > "maravel" and prefix_upper_bound("mara") < "marb"
