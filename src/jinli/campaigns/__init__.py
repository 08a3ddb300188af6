"""Campaigns (M1): lifecycle draft → scheduled → live → paused → ended → settled, budget with a
hard cap (through the ledger), time window in Asia/Shanghai, channels with attribution links,
a typed reward rule, KPI targets, and the compliance check before publishing (via risk).

Public surface: ``service`` functions, ``domain.CampaignStatus``, ``domain.Action``,
``domain.RewardRule`` kinds and ``errors``.
"""
