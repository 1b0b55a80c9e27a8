"""Fake servers that stand in for third parties in tests (run as real processes)."""
