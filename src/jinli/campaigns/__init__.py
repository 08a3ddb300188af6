"""Campaigns (M1): lifecycle draft → scheduled → live → paused → ended → settled, budget with a
hard cap (through the ledger), time window in Asia/Shanghai, channels with attribution links,
a typed reward rule, KPI targets, and the compliance check before publishing (via risk).

Payout options (payout mode, automatic reissue policy and count) live on the campaign; whoever
creates a payout for it passes ``service.payout_terms(campaign)`` on to payouts (a peer that
campaigns never imports). Settling waits for reconciliation through the ``ports.SettlementGate``
the app layer wires in (``Runtime.extras[ports.SETTLEMENT_GATE]``); without it, it is refused.

Public surface: ``service`` functions, ``domain.CampaignStatus``, ``domain.Action``,
``domain.RewardRule`` kinds, ``domain.PayoutMode``, ``domain.ReissuePolicy``,
``domain.PayoutTerms``, ``ports.SettlementGate`` and ``errors``.
"""
