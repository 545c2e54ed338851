"""The ledger, providers, checkout and payouts land here (checkout and escrow issue)."""
