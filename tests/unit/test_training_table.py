"""`ecom train`'s table: every candidate's numbers, the chosen one starred, the gate beneath."""

from __future__ import annotations

from rich.console import Console

from ecom.churn import models as churn_models
from ecom.churn.evaluation import PairedComparison
from ecom.churn.gate import decide_champion
from ecom.churn.training import CandidateResult, TrainingResult
from ecom.cli.churn import training_table

METRICS = ("roc_auc", "pr_auc", "brier", "lift_top_decile")
BASELINE = churn_models.BASELINE
CHOSEN = churn_models.XGB_SMOTE


def candidate(name: str, validation_auc: float, test_auc: float) -> CandidateResult:
    test = dict(zip(METRICS, (test_auc, 0.41, 0.123, 2.5), strict=True))
    return CandidateResult(name, f"run-{name}", {"roc_auc": validation_auc}, test)


def comparison() -> PairedComparison:
    return PairedComparison(
        challenger_auc=0.75,
        champion_auc=0.70,
        auc_difference=0.05,
        auc_difference_low=0.02,
        auc_difference_high=0.08,
        challenger_brier=0.120,
        champion_brier=0.125,
        brier_difference=-0.005,
        brier_difference_low=-0.009,
        brier_difference_high=-0.001,
        rows=2000,
        users=1234,
        samples=200,
        confidence=0.95,
    )


def rendered(result: TrainingResult) -> str:
    console = Console(record=True, width=300)
    console.print(training_table(result))
    return console.export_text()


def test_the_table_names_every_candidate_and_the_gate() -> None:
    decision = decide_champion(0.75, comparison(), "3")
    result = TrainingResult(
        run_id="run",
        experiment_id="1",
        feature_service="churn_v1",
        features=["recency_days"],
        rows={"train": 10, "validation": 5, "test": 5},
        windows={},
        candidates={
            BASELINE: candidate(BASELINE, 0.6512, 0.6401),
            CHOSEN: candidate(CHOSEN, 0.7377, 0.7499),
        },
        selected=CHOSEN,
        model_name="churn_prediction_advanced",
        model_version="4",
        decision=decision,
        champion_version="4",
        oracle_auc=0.8,
    )
    table = training_table(result)
    assert table.title == "churn_prediction_advanced v4 (now champion)"
    assert "gate vs v3: AUC gain +0.0500 [+0.0200, +0.0800]" in table.caption
    assert table.caption.startswith("oracle AUC 0.8000; AUC/oracle 0.937")
    text = rendered(result)
    assert f"{CHOSEN} *" in text and f"{BASELINE} *" not in text
    assert "0.6512" in text and "0.7499" in text and "2.50" in text
