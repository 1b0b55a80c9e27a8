"""Putting a character in front of a conversation, out of the caller's sight."""

from __future__ import annotations

from typing import Any

from serika.characters.model import Character


def persona_prompt(character: Character) -> str:
    parts = [character.system_prompt or f"You are {character.name}."]
    if character.personality:
        parts.append(f"{character.name}'s personality: {character.personality}")
    if character.scenario:
        parts.append(f"Scenario: {character.scenario}")
    return "\n\n".join(parts)


def with_persona(character: Character, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The persona first, then the caller's own system messages, then the starter message
    (only when the conversation has no assistant turn yet), then the rest of the conversation.
    """
    leading = 0
    while leading < len(messages) and messages[leading].get("role") in ("system", "developer"):
        leading += 1
    result = [{"role": "system", "content": persona_prompt(character)}, *messages[:leading]]
    has_assistant = any(m.get("role") == "assistant" for m in messages)
    if character.starter_message and not has_assistant:
        result.append({"role": "assistant", "content": character.starter_message})
    result.extend(messages[leading:])
    return result
