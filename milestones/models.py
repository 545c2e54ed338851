"""Milestone plans, orders and their lifecycle land here (milestone builder and lifecycle issues)."""
