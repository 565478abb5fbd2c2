"""What `ecom pipeline` runs on Spark (ECOM_ENGINE=spark), and why the rest does not.

Load, transform (`dbt build`: models and their tests), the online features (Redis, from the
Spark scoring mart), training (Feast's Spark offline store), batch scoring and the retention
list run on Spark's tables. The stages below read
PostgreSQL's marts only; a Spark run does not build those, so running them would judge an
earlier PostgreSQL load, or nothing. They are skipped, and the pipeline's summary says why in
one line each, instead of reporting on the wrong data.
"""

from __future__ import annotations

SKIPPED_ON_SPARK: dict[str, str] = {
    "quality": (
        "on Spark the loader's contract checks and dbt's tests (`dbt build`) gate the data; "
        "the GX suite runs on PostgreSQL"
    ),
    "uplift": (
        "the uplift model trains on PostgreSQL's campaign marts; on Spark the retention list "
        "is the labelled churn-risk fallback"
    ),
    "drift": "drift is measured on PostgreSQL's marts against the training reference",
    "monitor": "performance monitoring reads PostgreSQL's labels and score history",
    "experiment": "the experiment analysis reads PostgreSQL's experiment marts",
}


def skipped_on_spark(stage: str) -> str | None:
    """Why `stage` does not run on Spark, or None when it does."""
    return SKIPPED_ON_SPARK.get(stage)
