"""Disputes and chargebacks land here (disputes issue)."""
