"""Reconciliation (M11): a day's WeChat Pay fund-flow bill, imported (CLI, console upload) or
fetched through the v3 client, matched against our payouts; every difference listed by class
(missing on our side, missing on WeChat's, amount, status, duplicate, cross-day), none
invented; runs per (merchant, day), resolutions by finance, and the finance pack (xlsx / CSV).

Public surface: ``service.reconcile_file`` / ``service.reconcile_bytes`` (import a bill),
``service.import_bill`` (a finance operator's upload or fetch, audited),
``service.fetch_fund_flow_bill`` (download, outside any transaction), ``service.get_run``,
``service.list_runs``, ``service.brand_runs`` / ``service.brand_run`` (a brand's view of the
runs), ``service.list_differences``, ``service.resolve`` / ``service.resolve_many``,
``service.is_clean`` and ``service.settlement_blockers`` (the campaign settle gate),
``service.due_days``, ``service.campaign_reconciliation``, ``service.finance_pack``;
``tasks.reconcile_day`` (fetch + reconcile) and ``tasks.reconcile_due`` (the worker's daily
job, with back-off); ``api.router``; ``domain.FOOTPRINTS`` (what each payout leaves in the
bill) and ``domain.DifferenceClass``.
"""
