"""Upstream model providers: one module per kind, one interface."""
