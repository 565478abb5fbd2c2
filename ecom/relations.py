"""The warehouse relations more than one stage reads, each named once.

dbt builds them; the feature store, training, batch scoring, the service's readiness probe and
the pipeline's preflight read them. A `Relation` unpacks as `(schema, name)` for code that
needs the parts and formats as `schema.name` in SQL, so no reader spells a name again.
"""

from __future__ import annotations

from typing import NamedTuple


class Relation(NamedTuple):
    """A table or view: `schema, name = relation`, or `f"select ... from {relation}"`."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


MARTS_SCHEMA = "analytics"
# Weekly history cutoffs: the Feast source of the point-in-time training set.
FEATURES_MART = Relation(MARTS_SCHEMA, "mart_churn_features")
# One row per labelled (user, cutoff): the training set's entity rows.
LABELS_MART = Relation(MARTS_SCHEMA, "mart_churn_labels")
# The scoring snapshot: every active user as of the day after the data ends.
SCORING_MART = Relation(MARTS_SCHEMA, "mart_churn_scoring")
