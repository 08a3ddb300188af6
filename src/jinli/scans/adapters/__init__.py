"""Adapters of the scan's ports: the hot claim stores (PostgreSQL, Redis)."""
