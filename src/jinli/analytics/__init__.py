"""Analytics (M8): the event store and the live campaign view.

Every committed domain event reaches ``analytics_events`` through the outbox relay, exactly once.
The live view is a projection of the scan, payout and alert events into per-campaign counters
(``live_counters``, one atomic upsert per counter) plus the latest 串货 and guessing alerts;
``live_view`` reads it back with the campaign's ledger book and the invalid-scan counters.
Funnels, alert rules and experiments arrive with later work. See ``docs/analytics.md``.

Public surface: ``service.count_by_topic``, ``service.live_view``, ``tasks.CONSUMERS``
(``analytics.events`` and ``analytics.live``), ``api.router`` (``GET /campaigns/{id}/live``).
"""
