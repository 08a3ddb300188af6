"""The worker: outbox relay (events to every consumer, exactly once) and the campaign scheduler."""
