"""Helpers shared by the tests: databases, settings, API clients."""
