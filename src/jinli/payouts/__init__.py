"""Payouts (M11, M2 payout modes): payout orders through WeChat Pay with one state machine for
the three modes (v3 transfer-bills, brand red packet, v2 cash red packet), idempotent numbers,
an explicit UNKNOWN state, retries with the same number, expiry, refunds and reissue.

Public surface: ``domain.PayoutMode``, ``domain.PayoutState``, ``domain.bill_number`` and the
service functions (arriving with the WeChat Pay work).
"""
