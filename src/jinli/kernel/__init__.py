"""Shared vocabulary of every capability: money in fen, ids, clocks, errors, events, pages.

The kernel imports the standard library only, so every domain core may depend on it.
"""
