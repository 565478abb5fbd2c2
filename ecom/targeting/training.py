"""`ecom uplift train`: learn whom a contact moves from randomized campaigns, and prove it.

Campaign users are split by user (a user in two campaigns never straddles splits) into train,
validation and test. Both candidates fit on train; the better validation Qini wins and is
refitted on train + validation with a bootstrap bag for effect intervals. The test users report
the Qini, AUUC and uplift at k with bootstrap intervals, the policy comparison at each budget,
and (with `--truth`) the oracle's Qini from the planted effects. The run goes to MLflow under
its own experiment and registered model; the new version takes the `champion` alias only when
the paired bootstrap interval of its Qini gain over the champion's, on the same test users,
clears the margin. A new champion's Qini curves and policy values go to two analytics tables
(`evaluation_tables`) that the "Retention targeting" dashboard charts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecom.churn.predict import Economics
from ecom.config import Settings
from ecom.features.contract import Kind, features_of_kind
from ecom.services import Endpoints
from ecom.targeting import metrics
from ecom.targeting.data import campaign_frame
from ecom.targeting.models import CANDIDATES, FeatureEncoding, UpliftModel, fit_uplift_model
from ecom.targeting.policies import evaluate_policies, ratio_at_budget

log = logging.getLogger(__name__)

UPLIFT_MODEL_NAME = "retention_uplift"
UPLIFT_EXPERIMENT = "retention_uplift"
SPLIT_SHARES = {"train": 0.60, "validation": 0.15}  # the rest is test
GATE_MIN_QINI_GAIN = 0.0
KEYS = ("campaign_id", "user_id")


@dataclass
class UpliftTrainingResult:
    chosen: str
    validation_qini: dict[str, float]
    metrics: dict[str, float]
    policies: pd.DataFrame
    seconds: float
    rows: dict[str, int]
    model: UpliftModel
    test: pd.DataFrame  # test users with estimated_effect, churn_probability (and truth)
    model_version: str | None = None
    promoted: bool = False
    gate_reason: str = ""
    params: dict[str, object] = field(default_factory=dict)
    # Where the time went (the features' join, each fit, the evaluation, MLflow): the benchmark
    # prints it, so a slow stage says which step to cut.
    step_seconds: dict[str, float] = field(default_factory=dict)

    def summary_line(self) -> str:
        qini = self.metrics["test_qini"]
        oracle = self.metrics.get("test_qini_oracle")
        ceiling = f", oracle {oracle:.4f}" if oracle is not None else ""
        return (
            f"uplift {self.chosen}: test Qini {qini:.4f} "
            f"[{self.metrics['test_qini_low']:.4f}, {self.metrics['test_qini_high']:.4f}]"
            f"{ceiling}; {self.gate_reason}"
        )


def split_by_user(frame: pd.DataFrame, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Train / validation / test by a seeded hash of the user id (stable, no user in two)."""
    users = np.sort(frame["user_id"].unique())
    position = np.random.default_rng(seed).permutation(len(users)) / max(len(users), 1)
    train_end = SPLIT_SHARES["train"]
    validation_end = train_end + SPLIT_SHARES["validation"]
    part_of_user = pd.Series(
        np.select(
            [position < train_end, position < validation_end], ["train", "validation"], "test"
        ),
        index=users,
    )
    part = frame["user_id"].map(part_of_user)
    return {
        name: frame[part == name].reset_index(drop=True) for name in ("train", "validation", "test")
    }


def attach_truth(frame: pd.DataFrame, truth_dir: Path, database_url: str) -> pd.DataFrame:
    """Add true_effect, y0 and y1 from the generator's campaign truth, after checking that the
    truth folder belongs to the loaded data (a truth of another seed would grade the wrong world)."""
    from ecom.churn.oracle import check_truth_matches, loaded_data_fingerprint
    from ecom.synth.campaign import load_campaign_truth

    check_truth_matches(truth_dir, loaded_data_fingerprint(database_url))
    truth = load_campaign_truth(truth_dir)[[*KEYS, "true_effect", "y0", "y1", "segment"]]
    merged = frame.merge(truth, on=list(KEYS), how="left", validate="one_to_one")
    missing = merged["true_effect"].isna()
    if missing.any():
        first = merged.loc[missing, list(KEYS)].iloc[0].tolist()
        raise ValueError(f"{truth_dir}: no campaign truth for (campaign_id, user_id) {first}")
    return merged


def _ipw(frame: pd.DataFrame) -> np.ndarray:
    return metrics.ipw_terms(frame["converted"], frame["is_treated"], frame["treatment_share"])


def no_contact_churn_model(train: pd.DataFrame, encoding: FeatureEncoding):
    """P(no order in the horizon | features) from the held-out (control) users: the churn risk
    of the campaign population when no churn champion is registered."""
    from xgboost import XGBClassifier

    control = train[train["is_treated"] == 0]
    model = XGBClassifier(n_estimators=150, max_depth=3, learning_rate=0.05, n_jobs=1)
    model.fit(encoding.transform(control), 1 - control["converted"].to_numpy(dtype=int))
    return model


def churn_risk(
    settings: Settings, frame: pd.DataFrame, fallback, encoding: FeatureEncoding
) -> tuple[np.ndarray, str]:
    """Churn probability per row: the churn champion's (today's list) when there is one."""
    from ecom.churn.scoring import NoChampionModel, champion_predictor

    try:
        predictor = champion_predictor(settings)
        predictions = predictor.predict(frame, explain=False)
        return predictions.churn_probability, f"churn champion v{predictor.model_version}"
    except NoChampionModel:
        return fallback.predict_proba(encoding.transform(frame))[:, 1], "no-contact churn model"


def held_out_metrics(
    test: pd.DataFrame, effect: np.ndarray, n_boot: int, seed: int
) -> dict[str, float]:
    """Qini, AUUC and uplift at k on the test users, with bootstrap intervals, and the oracle's
    Qini (same estimator, ranking by the planted effect) when the truth is attached."""
    ipw = _ipw(test)
    samples = metrics.bootstrap_samples(len(test), n_boot, seed)
    result: dict[str, float] = {}
    result |= metrics.bootstrap_interval(metrics.qini_coefficient, samples, effect, ipw).as_dict(
        "test_qini"
    )
    result |= metrics.bootstrap_interval(metrics.auuc, samples, effect, ipw).as_dict("test_auuc")
    for share in (0.1, 0.2):
        result[f"test_uplift_at_{round(share * 100)}"] = metrics.uplift_at_k(effect, ipw, share)
    result["test_average_effect_ipw"] = float(ipw.mean())
    if "true_effect" in test:
        true_effect = test["true_effect"].to_numpy(dtype=float)
        result |= metrics.bootstrap_interval(
            metrics.qini_coefficient, samples, true_effect, ipw
        ).as_dict("test_qini_oracle")
        result["test_qini_to_oracle_ratio"] = result["test_qini"] / result["test_qini_oracle"]
        result["test_qini_truth"] = metrics.qini_coefficient(effect, true_effect)
        result["test_qini_truth_oracle"] = metrics.qini_coefficient(true_effect, true_effect)
        result["test_average_effect_truth"] = float(true_effect.mean())
    return result


def balance(frame: pd.DataFrame, numeric: list[str]) -> dict[str, float]:
    """Randomization checks: the largest standardized mean difference of a feature between the
    arms (above 0.1 is a warning sign), and the treated share per campaign against its mean."""
    treated = frame["is_treated"] == 1
    differences = []
    for name in numeric:
        values = pd.to_numeric(frame[name], errors="coerce").astype(float)
        spread = np.sqrt((values[treated].var() + values[~treated].var()) / 2.0)
        if spread > 0:
            differences.append(abs(values[treated].mean() - values[~treated].mean()) / spread)
    return {"balance_max_smd": float(max(differences, default=0.0))}


def write_evaluation_tables(
    settings: Settings,
    endpoints: Endpoints,
    result: UpliftTrainingResult,
    economics: Economics,
    n_boot: int,
    seed: int,
) -> None:
    """The champion's held-out curves and policy values, for the "Retention targeting" charts
    of the report and Metabase: the new version's when it took `champion`; when the champion
    stayed but the tables do not hold it (it predates them), the champion's own evaluation on
    these test users, so a rerun fills the charts; otherwise the tables stay as they are."""
    from ecom.targeting.evaluation_tables import evaluated_version, write_champion_evaluation
    from ecom.targeting.registry import uplift_registry

    database_url = endpoints.database_url
    if result.promoted and result.model_version is not None:
        write_champion_evaluation(database_url, result.model_version, result.test, result.policies)
        return
    registry = uplift_registry(settings)
    version = registry.champion_version()
    if version is None or evaluated_version(database_url) == version:
        return  # the usual rerun: the tables already hold the champion, no model to load
    try:
        champion = registry.load_model(version)
        test = result.test.assign(estimated_effect=champion.effect(result.test))
    except Exception as error:  # a champion on older features: say so, keep the tables
        log.warning("uplift champion v%s cannot score the test users: %s", version, error)
        return
    policies = evaluate_policies(test, economics, n_boot=n_boot, seed=seed)
    write_champion_evaluation(database_url, version, test, policies)


def validation_qinis(
    parts: dict[str, pd.DataFrame],
    encoding: FeatureEncoding,
    seed: int,
    step: Callable[[str], None],
) -> dict[str, float]:
    """Each candidate learner fitted on train and scored by its Qini on validation (the
    choice between them); `step` times each fit."""
    validation = parts["validation"]
    qinis = {}
    for name in CANDIDATES:
        candidate = fit_uplift_model(name, parts["train"], encoding, seed=seed)
        qinis[name] = metrics.qini_coefficient(candidate.effect(validation), _ipw(validation))
        step(f"fit candidate {name}")
    return qinis


def uplift_to_risk_ratios(
    test: pd.DataFrame, economics: Economics, n_boot: int, seed: int
) -> dict[str, float]:
    """Value of targeting by uplift over targeting by churn risk at a 20% budget: on the
    realised outcomes (Y1 - Y0) when the truth is attached, and on the IPW estimate always."""
    result: dict[str, float] = {}
    if "y0" in test:
        realised = test["y1"].to_numpy(dtype=float) - test["y0"].to_numpy(dtype=float)
        result |= ratio_at_budget(
            test, economics, 0.2, "uplift", "churn_risk", realised, n_boot, seed
        ).as_dict("uplift_to_risk_at_20_truth")
    result |= ratio_at_budget(
        test, economics, 0.2, "uplift", "churn_risk", _ipw(test), n_boot, seed
    ).as_dict("uplift_to_risk_at_20_ipw")
    return result


def train_uplift(
    settings: Settings,
    endpoints: Endpoints,
    truth_dir: Path | None = None,
    *,
    # Four bootstrap refits for the effect intervals: at 100k users the bag was most of the
    # stage's time (eight refits 33-37 s of 54 s warm, four 10 s of 15 s; benchmarks/bench_uplift.py).
    bag_size: int = 4,
    n_boot: int = 200,
    seed: int = 0,
    register: bool = True,
) -> UpliftTrainingResult:
    """Fit, choose, evaluate and (with `register`) log and gate the uplift model."""
    started = time.perf_counter()
    steps: dict[str, float] = {}
    lap = [started]

    def step(name: str) -> None:
        now = time.perf_counter()
        steps[name] = steps.get(name, 0.0) + now - lap[0]
        lap[0] = now

    frame = campaign_frame(settings, endpoints)
    if truth_dir is not None:
        frame = attach_truth(frame, Path(truth_dir), endpoints.database_url)
    numeric = list(features_of_kind(Kind.NUMERIC))
    categorical = list(features_of_kind(Kind.CATEGORICAL))
    parts = split_by_user(frame, seed)
    encoding = FeatureEncoding.fit(parts["train"], numeric, categorical)
    step("campaign frame (Feast point-in-time join)")

    validation_qini = validation_qinis(parts, encoding, seed, step)
    chosen = max(validation_qini, key=validation_qini.get)
    learning = pd.concat([parts["train"], parts["validation"]], ignore_index=True)
    model = fit_uplift_model(chosen, learning, encoding, bag_size=bag_size, seed=seed)
    step(f"refit {chosen} with a bag of {bag_size}")

    test = parts["test"].copy()
    effect = model.effect(test)
    risk_model = no_contact_churn_model(learning, encoding)
    risk, risk_source = churn_risk(settings, test, risk_model, encoding)
    test = test.assign(estimated_effect=effect, churn_probability=risk)
    result_metrics = held_out_metrics(test, effect, n_boot, seed)
    result_metrics |= balance(frame, numeric)
    economics = Economics(settings.customer_ltv, settings.win_back_rate, settings.contact_cost)
    policies = evaluate_policies(test, economics, n_boot=n_boot, seed=seed)
    result_metrics |= uplift_to_risk_ratios(test, economics, n_boot, seed)
    for name, value in validation_qini.items():
        result_metrics[f"validation_qini_{name}"] = value
    step("evaluation (metrics, policies, intervals)")
    result = UpliftTrainingResult(
        chosen=chosen,
        validation_qini=validation_qini,
        metrics=result_metrics,
        policies=policies,
        seconds=time.perf_counter() - started,
        rows={name: len(part) for name, part in parts.items()},
        model=model,
        test=test,
        params={
            "learner": chosen,
            "bag_size": bag_size,
            "bootstrap_samples": n_boot,
            "risk_source": risk_source,
            "campaigns": int(frame["campaign_id"].nunique()),
            **{f"{name}_rows": len(part) for name, part in parts.items()},
            "truth": str(truth_dir) if truth_dir else "none",
        },
    )
    if register:
        from ecom.targeting.registry import log_and_gate

        log_and_gate(settings, result)
        step("MLflow log and gate")
        write_evaluation_tables(settings, endpoints, result, economics, n_boot, seed)
        step("champion's evaluation tables")
    result.step_seconds = steps
    result.seconds = time.perf_counter() - started
    log.info("%s in %.1f s", result.summary_line(), result.seconds)
    return result
