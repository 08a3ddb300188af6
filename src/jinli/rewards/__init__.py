"""Rewards (M2): the red-packet and prize rules. Prize-tier draws (bottle-cap style, with
"thanks for taking part" and per-region tables) with their audit record and expected cost
against the budget; lucky-split (拼手气) and fixed-amount pools, pre-split at publish time and
shuffled with the CSPRNG so that every grab position has the same chances.

Public surface (pure, ``domain``): ``PrizeTier``, ``PrizeTable``, ``PrizeRule``,
``draw_prize`` / ``replay_draw`` / ``audit_draw`` → ``Draw``, ``check_budget`` /
``require_budget`` → ``BudgetCheck``, ``LuckySplit``, ``FixedPool``, ``presplit``; the
injectable ``RandomSource`` (``SYSTEM_RANDOM`` in production, ``SeededRandomSource`` in tests);
and ``errors``. Packets, grabs and the service arrive with the scan-to-win work.
"""
