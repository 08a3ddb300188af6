"""Database plumbing: declarative base, engines, the unit of work, tenancy guard and outbox."""
