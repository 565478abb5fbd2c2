"""Ad-hoc product analytics over the events: funnels and retention as parameterised SQL.

The questions are the ones PostHog and Amplitude users ask (which steps, in what order, within
what window, broken down how); the answers are computed by PostgreSQL over the sequenced event
table dbt builds (`intermediate.int_events_sequenced`), never by pulling events into Python.
"""
