"""Scan-to-win (M3 one item one code, M2 prizes and lucky split, M10 code-guessing defence):
a consumer scans the code under a bottle cap; the code is verified (forgeries without the
database), claimed exactly once, the prize drawn with the CSPRNG and logged for audit, and the
payout created in the same transaction; a re-scan gets the anti-counterfeit answer, a scan far
from the batch's region raises a 串货 alert, and invalid codes are throttled per openid, device
and IP with an alarm for a guessing storm.

Public surface: ``service`` (``env_for``, ``parse``, ``guard``, ``record_guess``,
``raise_guessing_alarm``, ``inspect``, ``claim``, ``prize``, ``settle_claim``,
``prepare_pool``, ``budget_check``), ``domain`` (``Client``, ``DrawRecord``, ``ScanTally``,
``answer_text``, ``CidrRegionResolver``), ``ports`` (``ClaimStore``, ``RegionResolver``) and
``errors``.
"""
