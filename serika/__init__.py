"""Serika: a self-hostable, OpenAI-compatible developer platform."""

__version__ = "0.1.0"
