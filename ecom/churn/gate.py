"""The champion gate: a new version takes over only when the evidence says it is better.

The current champion is re-scored on the same test rows as the challenger (rather than trusted
on the numbers it earned on older data): a paired, user-clustered bootstrap interval of the
AUC gain must clear a margin and calibration must not get worse. The decision itself is a pure
function (`decide_champion`), tested on its own; `judge_challenger` gathers its evidence and
records it in the training run. Moving the alias is the registry's job, not the gate's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd

from ecom.churn import models as churn_models
from ecom.churn.evaluation import PairedComparison, paired_bootstrap
from ecom.churn.registry import MODEL_NAME
from ecom.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChampionDecision:
    promote: bool
    reason: str
    candidate_score: float
    champion_score: float | None
    champion_version: str | None
    comparison: PairedComparison | None = None

    def gate_line(self) -> str:
        """Both intervals of the gate, or why there was no comparison."""
        c = self.comparison
        if c is None:
            return f"gate: {self.reason}"
        return (
            f"gate vs v{self.champion_version}: AUC gain {c.auc_difference:+.4f} "
            f"[{c.auc_difference_low:+.4f}, {c.auc_difference_high:+.4f}], Brier change "
            f"{c.brier_difference:+.4f} [{c.brier_difference_low:+.4f}, "
            f"{c.brier_difference_high:+.4f}] ({c.confidence:.0%} CIs, {c.users:,} users)"
        )


def decide_champion(
    candidate_score: float,
    comparison: PairedComparison | None,
    champion_version: str | None = None,
    *,
    min_auc_gain: float = 0.0,
    max_brier_increase: float = 0.002,
    refusal: str | None = None,
) -> ChampionDecision:
    """Promote when there is no champion, when it could not be scored on the new test set
    (`comparison` None with a version), or when the evidence says the challenger is better:
    the lower bound of the paired bootstrap interval of its AUC gain exceeds `min_auc_gain`
    and its Brier score is at most `max_brier_increase` worse. A challenger better only by
    noise has an interval that straddles zero and keeps the incumbent. A `refusal` (the
    quality gate failed on the training data) keeps the incumbent whatever the evidence."""
    if refusal is not None:
        kept = f"champion stays v{champion_version}" if champion_version else "no champion"
        return ChampionDecision(
            False, f"not crowned, {refusal}; {kept}", candidate_score, None, champion_version
        )
    if champion_version is None:
        return ChampionDecision(True, "no champion yet", candidate_score, None, None)
    if comparison is None:
        return ChampionDecision(
            True,
            f"champion v{champion_version} cannot score the current features",
            candidate_score,
            None,
            champion_version,
        )
    c = comparison
    evidence = (
        f"AUC {c.challenger_auc:.4f} vs champion v{champion_version} {c.champion_auc:.4f}, "
        f"gain {c.auc_difference:+.4f} [{c.confidence:.0%} CI {c.auc_difference_low:+.4f}, "
        f"{c.auc_difference_high:+.4f}]; Brier change {c.brier_difference:+.4f} "
        f"[{c.brier_difference_low:+.4f}, {c.brier_difference_high:+.4f}] "
        f"over {c.users:,} users on the same test cutoffs"
    )
    if c.auc_difference_low <= min_auc_gain:
        verdict = f"kept: the AUC gain's lower bound does not clear {min_auc_gain:+.4f}"
        promote = False
    elif c.brier_difference > max_brier_increase:
        verdict = f"kept: calibration worsens by more than {max_brier_increase:.4f} Brier"
        promote = False
    else:
        verdict = "promoted: the AUC gain clears the margin and calibration holds"
        promote = True
    return ChampionDecision(
        promote, f"{verdict} ({evidence})", candidate_score, c.champion_auc, champion_version, c
    )


def score_incumbent(version: str | None, x_test: pd.DataFrame) -> np.ndarray | None:
    """The current champion's churn probabilities on the new test cutoffs, or None if it
    cannot score them (for example a feature it was trained on no longer exists)."""
    if version is None:
        return None
    try:
        model = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{version}")
        return np.asarray(churn_models.predict_churn(model, x_test), dtype=float)
    except (KeyError, ValueError, OSError) as error:
        log.warning("champion v%s cannot score the new test set: %s", version, error)
        return None


def judge_challenger(
    settings: Settings,
    incumbent: str | None,
    y_test: np.ndarray,
    x_test: pd.DataFrame,
    users: np.ndarray,
    challenger_scores: np.ndarray,
    challenger_score: float,
    refusal: str | None,
) -> ChampionDecision:
    """Re-score `incumbent` on the challenger's test rows, decide on the paired bootstrap of
    the AUC and Brier differences, and log both intervals and the verdict to the active run."""
    incumbent_scores = score_incumbent(incumbent, x_test)
    comparison = None
    if incumbent_scores is not None:
        comparison = paired_bootstrap(
            y_test,
            challenger_scores,
            incumbent_scores,
            users,
            samples=settings.gate_bootstrap_samples,
            confidence=settings.gate_confidence,
        )
    decision = decide_champion(
        challenger_score,
        comparison,
        incumbent,
        min_auc_gain=settings.champion_min_auc_gain,
        max_brier_increase=settings.champion_max_brier_increase,
        refusal=refusal,
    )
    mlflow.log_params(
        {
            "champion_decision": "promoted" if decision.promote else "kept",
            "champion_reason": decision.reason[:500],
            "previous_champion_version": incumbent or "none",
            "gate_min_auc_gain": settings.champion_min_auc_gain,
            "gate_max_brier_increase": settings.champion_max_brier_increase,
        }
    )
    mlflow.log_metric("candidate_test_roc_auc", decision.candidate_score)
    if comparison is not None:
        mlflow.log_metric("champion_test_roc_auc", comparison.champion_auc)
        mlflow.log_metrics(comparison.as_metrics())
    log.info("champion decision: %s", decision.reason)
    return decision
