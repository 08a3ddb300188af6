"""Analytics (M8): the event store every dashboard, funnel and experiment reads.

Every committed domain event reaches ``analytics_events`` through the outbox relay, exactly once.
Dashboards, funnels, alerts and experiments arrive with later work.

Public surface: ``service.count_by_topic``, ``tasks.CONSUMERS``.
"""
