"""`docs/model_card.md`, generated from the champion's MLflow run.

Every number in the card is read back from what the run recorded (params, metrics and
artifacts: the split, the test predictions, SHAP importances) or from
`analytics.model_performance`, never typed by hand, so the card cannot disagree with the
model it describes. Regenerate it after each promotion (`ecom model-card`; the pipeline does).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ecom.churn.registry import MODEL_NAME
from ecom.config import Settings
from ecom.features import contract
from ecom.monitoring.champion import ChampionRun, MissingRunArtifact, load_champion_run
from ecom.monitoring.performance import read_performance
from ecom.services import Endpoints

log = logging.getLogger(__name__)

SHAP_ARTIFACT = "diagnostics/shap_mean_abs.json"
FEATURES_ARTIFACT = "features.json"
TOP_FEATURES = 10
CALIBRATION_BINS = 10


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _number(metrics: dict[str, float], key: str, digits: int = 4) -> str:
    return f"{metrics[key]:.{digits}f}" if key in metrics else "not recorded"


def calibration_rows(predictions: pd.DataFrame, bins: int = CALIBRATION_BINS) -> list[list]:
    """Mean predicted vs observed churn per quantile bin of the test predictions."""
    binned = predictions.assign(
        bin=pd.qcut(predictions["churn_probability"].rank(method="first"), bins, labels=False)
    )
    rows = []
    for number, group in binned.groupby("bin"):
        rows.append([
            int(number) + 1, f"{len(group):,}", f"{group['churn_probability'].mean():.3f}",
            f"{group['churned'].mean():.3f}",
        ])  # fmt: skip
    return rows


def _metrics_section(m: dict[str, float]) -> str:
    rows = [
        ["ROC-AUC", _number(m, "test_roc_auc"),
         f"[{_number(m, 'test_roc_auc_low')}, {_number(m, 'test_roc_auc_high')}]"],
        ["Brier score", _number(m, "test_brier"),
         f"[{_number(m, 'test_brier_low')}, {_number(m, 'test_brier_high')}]"],
        ["PR-AUC", _number(m, "test_pr_auc"), ""],
        ["precision in the top decile", _number(m, "test_precision_top_decile"), ""],
        ["lift in the top decile", _number(m, "test_lift_top_decile", 2), ""],
        ["F1 at the validation-chosen threshold", _number(m, "test_f1"),
         f"threshold {_number(m, 'test_threshold', 3)}"],
        ["churn rate (base rate)", _number(m, "test_base_rate"), ""],
    ]  # fmt: skip
    if "baseline_test_roc_auc" in m:
        rows.append(["logistic baseline ROC-AUC", _number(m, "baseline_test_roc_auc"), ""])
    if "oracle_test_roc_auc" in m:
        rows.append(["oracle ROC-AUC (generator's true probabilities)",
                     _number(m, "oracle_test_roc_auc"),
                     f"AUC/oracle {_number(m, 'model_to_oracle_auc_ratio', 3)}, "
                     f"(AUC-0.5)/(oracle-0.5) {_number(m, 'model_to_oracle_lift_ratio', 3)}"])  # fmt: skip
    else:
        rows.append(["oracle ROC-AUC", "absent",
                     "no truth folder: the data plants no churn process (real TheLook, or "
                     "`ecom generate --profile thelook`), so there is no ceiling to compare with"])  # fmt: skip
    return _table(["metric (test cutoffs)", "value", "95% interval (bootstrap over users)"], rows)


def _gate_section(run: ChampionRun) -> str:
    p, m = run.params, run.metrics
    text = f"Decision at training: **{p.get('champion_decision', 'not recorded')}**. "
    text += p.get("champion_reason", "")
    if "gate_auc_difference_low" in m:
        text += (
            f"\n\nAUC gain over the previous champion v{p.get('previous_champion_version')}: "
            f"{m['gate_auc_difference']:+.4f} [{m['gate_auc_difference_low']:+.4f}, "
            f"{m['gate_auc_difference_high']:+.4f}]; Brier change {m['gate_brier_difference']:+.4f} "
            f"[{m['gate_brier_difference_low']:+.4f}, {m['gate_brier_difference_high']:+.4f}] "
            f"(margin {p.get('gate_min_auc_gain')}, Brier allowance "
            f"{p.get('gate_max_brier_increase')})."
        )
    return text


def _features_section(run: ChampionRun) -> str:
    """The features the run recorded, described from the feature contract (group, why it
    matters); a feature the run used that the contract no longer has is said to be so."""
    features = run.json_artifact(FEATURES_ARTIFACT)
    described = {feature.name: feature for feature in contract.FEATURES}
    kinds = {name: "numeric" for name in features.get("numeric", [])}
    kinds |= {name: "categorical" for name in features.get("categorical", [])}
    rows = []
    for name, kind in kinds.items():
        feature = described.get(name)
        if feature is None:
            rows.append([name, kind, "-", "not in the current feature contract"])
        else:
            rows.append([name, kind, feature.group.value, feature.description])
    return (
        f"From the Feast feature service `{features.get('feature_service')}` as the run "
        f"recorded it ({len(rows)} features), described by the feature contract "
        "(`ecom/features/contract.py`):\n\n"
        + _table(["feature", "type", "group", "why it matters"], rows)
    )


def _shap_section(run: ChampionRun) -> str:
    try:
        importance = run.json_artifact(SHAP_ARTIFACT)
    except MissingRunArtifact:
        return "The run recorded no SHAP importances."
    top = list(importance.items())[:TOP_FEATURES]
    return "Mean absolute SHAP value on a test sample (encoded features):\n\n" + _table(
        ["rank", "feature", "mean abs SHAP"],
        [[rank, name, f"{value:.4f}"] for rank, (name, value) in enumerate(top, start=1)],
    )


def _performance_section(performance: pd.DataFrame, version: str) -> str:
    if performance.empty:
        return "No rows in `analytics.model_performance` yet (`ecom monitor` fills it)."
    mine = performance[performance["model_version"].astype(str) == version]
    rows = [
        [row.cutoff_date, row.source, row.sample, f"{int(row.users):,}", f"{row.churn_rate:.3f}",
         "-" if pd.isna(row.roc_auc) else f"{row.roc_auc:.3f}", f"{row.brier:.3f}",
         f"{row.precision_at_k:.3f}"]
        for row in mine.sort_values("cutoff_date").itertuples()
    ]  # fmt: skip
    k = int(mine["k"].max()) if len(mine) else 0
    header = ["cutoff", "source", "sample", "users", "churn rate", "AUC", "Brier", f"precision@{k}"]
    return (
        "From `analytics.model_performance` (realised outcomes, 30-day horizon passed):\n\n"
        + _table(header, rows)
    )


def render_model_card(run: ChampionRun, performance: pd.DataFrame) -> str:
    p, m = run.params, run.metrics
    split = run.split()
    predictions = run.test_predictions()
    window_rows = [
        [name, p.get(f"{name}_first_cutoff"), p.get(f"{name}_last_cutoff"),
         p.get(f"{name}_cutoffs"), f"{int(p.get(f'{name}_rows', 0)):,}"]
        for name in ("train", "validation", "test")
    ]  # fmt: skip
    observed = float(np.mean(predictions["churned"]))
    sections = [
        f"# Model card: {MODEL_NAME} v{run.version}",
        "Generated by `ecom model-card` from MLflow run "
        f"`{run.run_id}`; every number below comes from that run or from "
        "`analytics.model_performance`.",
        "## Intended use",
        f"Rank active customers by the probability that they place no order in the next "
        f"{p.get('label_horizon_days')} days, from features over the previous "
        f"{p.get('feature_window_days')} days, so the retention team contacts the users with "
        "the highest expected value first (batch scores daily, `/predict` for one user). "
        "Not for decisions about individuals beyond a retention offer, and not for users "
        "without activity in the feature window (they are not in the scoring population).",
        "## Data window and cutoffs",
        _table(["split", "first cutoff", "last cutoff", "cutoffs", "rows"], window_rows),
        f"{p.get('embargoed_cutoffs')} cutoffs were embargoed ({', '.join(split['embargoed'])}): "
        f"their {p.get('label_horizon_days')}-day label horizon reaches into the next split. "
        f"Candidates, early stopping, calibration and the threshold were chosen on validation "
        f"(selected: `{p.get('selected_candidate')}` by {p.get('selection_metric')}); the test "
        "cutoffs only report and gate.",
        "## Features",
        _features_section(run),
        "## Metrics on the test cutoffs",
        _metrics_section(m),
        "## Champion gate",
        _gate_section(run),
        "## Calibration",
        f"Test predictions in {CALIBRATION_BINS} equal-size bins by predicted probability "
        f"({len(predictions):,} rows, observed churn {observed:.3f}):\n\n"
        + _table(["bin", "rows", "mean predicted", "observed"], calibration_rows(predictions)),
        "## SHAP top features",
        _shap_section(run),
        "## Performance over time",
        _performance_section(performance, run.version),
        "## Known limits",
        "- Trained on weekly cutoffs of one dataset's history: seasonality longer than the "
        "training window is not learned.\n"
        "- A user with no activity in the feature window is not scored; a brand-new user has "
        "little signal.\n"
        "- Drift in the inputs (`reports/drift_summary.json`) is judged against this run's "
        "latest cutoffs (its test rows); realised performance is only known once a cutoff's "
        "horizon has passed.\n"
        "- On generated data the oracle is the ceiling; on real TheLook data there is none.",
        "## Lineage",
        _table(
            ["item", "value"],
            [
                ["feature service", p.get("feature_service")],
                ["training frame fingerprint", p.get("training_frame_fingerprint")],
                [
                    "train / validation / test fingerprints",
                    f"{p.get('train_fingerprint')} / {p.get('validation_fingerprint')} / "
                    f"{p.get('test_fingerprint')}",
                ],
                ["code version (git commit)", p.get("code_version", "not recorded")],
                ["MLflow run", run.run_id],
                ["registered version", run.version],
            ],
        ),
    ]
    return "\n\n".join(str(section) for section in sections) + "\n"


def write_model_card(settings: Settings, endpoints: Endpoints, *, path: Path | None = None) -> Path:
    """Render the champion's card and write it to `path` (default ECOM_MODEL_CARD)."""
    path = path or settings.model_card_path
    run = load_champion_run(settings)
    card = render_model_card(run, read_performance(endpoints.database_url))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(card)
    log.info("model card for %s v%s written to %s", MODEL_NAME, run.version, path)
    return path
