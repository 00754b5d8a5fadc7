"""The time bank and points ledger: double-entry, append-only, idempotent, tamper-evident."""
