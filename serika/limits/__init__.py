"""Tiers and limits: plans, counters (in process or Redis), admission and settlement."""
