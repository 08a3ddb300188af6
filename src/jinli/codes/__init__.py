"""One item, one code (M3, 一物一码): batches of unique, unguessable codes for print, generated
in streamed chunks with the printer's export (zip of CSV files and QR print sheets), activated
when a batch ships to a region and a distributor, and verified without the database for forged
or mistyped codes.

Public surface: ``service`` (``generate``, ``list_``, ``get``, ``activate``, ``void``,
``export_file``, ``purge_export``, ``verify`` for the scan, ``env_for``), ``domain``
(``parse``, ``CodeLookup``, ``BatchStatus``, the guessing odds) and ``errors``.
"""
