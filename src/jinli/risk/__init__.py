"""Risk control and compliance (M10). For now: the induced-share copy checker that campaigns
run before publishing (WeChat 运营规范 3.3.1). Velocity limits, blacklists and code-guess defence
arrive with the scan-to-win work.

Public surface: ``service.check_copy``, ``domain.CopyFinding``.
"""
