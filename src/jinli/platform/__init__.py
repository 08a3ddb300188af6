"""Plumbing shared by every capability: settings, database, Redis, logging, crypto, faults."""
