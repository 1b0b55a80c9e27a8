"""Checking the OpenAI request bodies that reach the text gateway, with clear 400s."""

from __future__ import annotations

from typing import Any

from serika.errors import InvalidRequest, MissingParameter

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def model_id(body: dict[str, Any]) -> str:
    value = body.get("model")
    if value is None or value == "":
        raise MissingParameter("you must provide a model parameter", param="model")
    if not isinstance(value, str) or len(value) > 200:
        raise InvalidRequest("model must be a model id string", param="model")
    return value


def stream_flag(body: dict[str, Any]) -> bool:
    value = body.get("stream", False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRequest("stream must be true or false", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("stream_options must be an object", param="stream_options")
    return value


def messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    value = body.get("messages")
    if value is None:
        raise MissingParameter("you must provide messages", param="messages")
    if not isinstance(value, list) or not value:
        raise InvalidRequest("messages must be a non-empty array", param="messages")
    for n, message in enumerate(value):
        where = f"messages[{n}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where} must be an object", param=where)
        role = message.get("role")
        if role not in ROLES:
            raise InvalidRequest(
                f"{where}.role must be one of {', '.join(sorted(ROLES))}", param=f"{where}.role"
            )
        content = message.get("content")
        if content is None and role != "assistant":
            raise MissingParameter(f"{where}.content is required", param=f"{where}.content")
        if content is not None and not isinstance(content, (str, list)):
            raise InvalidRequest(
                f"{where}.content must be a string or an array of parts",
                param=f"{where}.content",
            )
    return value


def prompt(body: dict[str, Any]) -> str | list[str]:
    value = body.get("prompt")
    if value is None:
        raise MissingParameter("you must provide a prompt", param="prompt")
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(p, str) for p in value):
        return value
    raise InvalidRequest("prompt must be a string or an array of strings", param="prompt")


def positive_int(body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidRequest(f"{name} must be a positive integer", param=name)


def number_between(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be a number from {low} to {high}", param=name)


def sampling(body: dict[str, Any]) -> None:
    positive_int(body, "max_tokens")
    positive_int(body, "max_completion_tokens")
    number_between(body, "temperature", 0, 2)
    number_between(body, "top_p", 0, 1)
