"""Scan-to-win (M3 one item one code, M2 prizes and lucky split, M10 code-guessing defence):
a consumer scans the code under a bottle cap; the code is verified (forgeries without the
database), claimed exactly once, the prize drawn with the CSPRNG and logged for audit, and the
payout created in the same transaction; a re-scan gets the anti-counterfeit answer, a scan far
from the batch's region raises a 串货 alert, and invalid codes are throttled per openid, device
and IP with an alarm for a guessing storm.

In production the claim can take the hot path (``hot``): a fast store grabs in one atomic
step against an allowance the ledger has allotted, and a relay settles the grabs into the
database (``service.relay_grabs``, run by the worker through ``tasks``).

Public surface: ``service`` (``env_for``, ``parse``, ``guard``, ``record_guess``,
``raise_guessing_alarm``, ``inspect``, ``claim``, ``prize``, ``settle_claim``,
``prepare_pool``, ``prepare_publish``, ``budget_check``, ``ensure_allowance``,
``restore_allowances``, ``release_allowance(s)``, ``relay_grabs``, ``HOT_STORE_KEY``),
``tasks`` (``run_hot``, ``relay_once``, ``allowances_once``), ``domain`` (``Client``,
``DrawRecord``, ``ScanTally``, ``answer_text``, ``CidrRegionResolver``), ``hot``, ``ports``
(``ClaimStore``, ``HotClaimStore``, ``RegionResolver``) and ``errors``.
"""
