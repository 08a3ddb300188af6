"""Ledger (M11): the double-entry budget ledger in integer fen; the only writer of money rows.

Each campaign has a *book* with six accounts. ``funding`` is the contra account of the brand's
money coming in, so its balance is ``-funded``; the others hold what the budget is doing::

    funding (−funded) → available → reserved → paid
                              ↑          │        │ (WeChat refunded an unopened packet)
                              └── void ──┘        └──────────→ available
                        available → returned (unspent money handed back to the brand)
                        available ⇄ allotted (预拨额度: the scan hot store's allowance)

Every transaction's entries sum to zero (INV-LEDGER), so ``available + allotted + reserved +
paid + returned == funded`` holds by construction (INV-BUDGET); the database's CHECK constraints and
single conditional UPDATEs keep every balance non-negative and ``funded ≤ cap``.

Public surface: ``service.open_book / fund / set_cap / reserve / post / void / refund /
withdraw / allot / unallot / allotments / latest_allotments / allotted_books /
count_transactions / balances / verify_book``, ``domain.Account``, ``domain.Balances``,
``errors``.
"""
