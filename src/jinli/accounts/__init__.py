"""Accounts (M10 access, M12): brands (tenants), operators and roles, console sessions,
API keys and the audit log.

Public surface for other capabilities: ``service.record_audit``, ``domain.Actor``,
``domain.Permission`` and ``errors``.
"""
