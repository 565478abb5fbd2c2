"""Experiment analysis files as `ecom experiment analyze` writes them
(`ExperimentAnalysis.to_dict()`), for the report's unit and integration tests: the file's
shape is spelled here once, so a change to it is one change in the tests too."""

from __future__ import annotations


def analysed(experiment_id: str, metrics: list[dict], **fields: object) -> dict:
    """An analysed experiment with `metrics` (each {"name", "plain", "cuped"}) and any other
    top-level `fields` (for example "srm")."""
    return {"status": "analysed", "experiment_id": experiment_id, "metrics": metrics, **fields}


def lift_reading(
    relative: float, lower: float, upper: float, pvalue: float, **fields: object
) -> dict:
    """One metric's plain or CUPED reading: the relative lift, its interval and p-value, and
    any other of the reading's `fields` (for example the absolute "effect")."""
    return {
        "relative_effect": relative,
        "relative_lower": lower,
        "relative_upper": upper,
        "pvalue": pvalue,
        **fields,
    }
