"""Ingest: TheLook CSVs into the `raw` schema.

`files` finds and reads the exports, `validation` checks headers and values before anything is
stored, `swap` moves a complete load into `raw` in one transaction, `report` says what was
loaded, and `load` runs them in that order (`ecom load`).
"""
