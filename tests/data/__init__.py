"""Frozen test data: the golden ledger (tests/data/golden, made by tests/data/make_golden.py)."""
