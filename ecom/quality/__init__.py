"""Quality: the Great Expectations gate between the raw tables, the marts and everything that
learns from them.

`suites` declares the expectations as data, `gate` runs them in one checkpoint, and `report`
turns the result into the table and the error that name what failed (`ecom quality`).
"""
