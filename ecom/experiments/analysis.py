"""The analysis of one experiment on the per-user rows of mart_experiment_results.

Statistics come from tea-tasting: Welch t-tests, unpooled proportion z-tests, the delta method
for ratio metrics, CUPED with each metric's pre-exposure twin, the sample-ratio check and the
Holm / Benjamini-Hochberg corrections. This module only decides what to test and how to read
it: the SRM check first (it blocks the verdict when it fails), every metric twice (plain and
CUPED, to say how much the pre-period narrowed the interval), Holm across the metric family
for the verdict, Benjamini-Hochberg across segments (exploration, not decisions), the
always-valid daily path of the primary metric and the Bayesian reading.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import tea_tasting as tt
from scipy import stats

from ecom.experiments.bayes import BayesResult, beta_binomial, normal_posterior
from ecom.experiments.metrics import METRICS, PRIMARY_METRIC, SEGMENT_COLUMNS, MetricSpec
from ecom.experiments.sequential import mixture_sprt, naive_pvalues

ALPHA = 0.05
# SRM is a data-quality alarm, not a hypothesis about the product: the platforms' usual 0.001
# keeps a fair split from being blocked once in 20 experiments.
SRM_ALPHA = 0.001
MIN_SEGMENT_USERS = 100  # per arm; below that a segment's interval says nothing
# The sequential test is tuned to find a 10% relative lift fastest (the design's MDE scale).
SEQUENTIAL_RELATIVE_MIXTURE_SD = 0.10


@dataclass(frozen=True)
class Estimate:
    """One reading of one metric: arm values, absolute and relative lift with 95% CIs, p."""

    control: float
    treatment: float
    effect: float
    effect_lower: float
    effect_upper: float
    relative_effect: float
    relative_lower: float
    relative_upper: float
    pvalue: float
    standard_error: float

    @property
    def interval_width(self) -> float:
        return self.effect_upper - self.effect_lower


@dataclass(frozen=True)
class MetricAnalysis:
    name: str
    role: str
    description: str
    plain: Estimate
    cuped: Estimate
    ci_narrowing: float  # 1 - CUPED interval width / plain interval width
    pvalue_holm: float
    significant: bool
    bayes: BayesResult


@dataclass(frozen=True)
class SrmCheck:
    control_users: int
    treatment_users: int
    chi_square: float
    pvalue: float
    alpha: float

    @property
    def passed(self) -> bool:
        return self.pvalue >= self.alpha


@dataclass(frozen=True)
class SegmentResult:
    dimension: str
    value: str
    metric: str
    control_users: int
    treatment_users: int
    relative_effect: float
    relative_lower: float
    relative_upper: float
    pvalue: float
    pvalue_bh: float


@dataclass(frozen=True)
class SequentialLook:
    date: str
    users: int
    estimate: float
    lower: float
    upper: float
    pvalue: float
    naive_pvalue: float


@dataclass(frozen=True)
class Verdict:
    decision: str  # ship, do not ship, no decision, blocked
    reason: str


@dataclass(frozen=True)
class ExperimentAnalysis:
    experiment_id: str
    control: str
    treatment: str
    alpha: float
    users: int
    started_at: str
    ended_at: str
    srm: SrmCheck
    metrics: list[MetricAnalysis]
    segments: list[SegmentResult] = field(default_factory=list)
    sequential: list[SequentialLook] = field(default_factory=list)
    verdict: Verdict = Verdict("no decision", "")

    @property
    def primary(self) -> MetricAnalysis:
        return self.metrics[0]

    def metric(self, name: str) -> MetricAnalysis:
        return next(metric for metric in self.metrics if metric.name == name)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["srm"]["passed"] = self.srm.passed
        return data


def choose_arms(variants: list[str]) -> tuple[str, str]:
    """(control, treatment): 'control' if present, else the first name; exactly two arms."""
    if len(variants) != 2:
        raise ValueError(f"expected two variants, found {len(variants)}: {sorted(variants)}")
    control = "control" if "control" in variants else sorted(variants)[0]
    (treatment,) = (variant for variant in variants if variant != control)
    return control, treatment


def _estimate(result: Any) -> Estimate:
    """An Estimate from a tea-tasting result; the standard error from the test statistic (t or
    z) when it has one, else from the interval's normal half-width (proportions, zero lift)."""
    statistic = getattr(result, "statistic", None)
    if statistic and result.effect_size:
        standard_error = abs(result.effect_size / statistic)
    else:
        standard_error = (result.effect_size_ci_upper - result.effect_size_ci_lower) / (
            2 * stats.norm.ppf(0.975)
        )
    return Estimate(
        control=float(result.control),
        treatment=float(result.treatment),
        effect=float(result.effect_size),
        effect_lower=float(result.effect_size_ci_lower),
        effect_upper=float(result.effect_size_ci_upper),
        relative_effect=float(result.rel_effect_size),
        relative_lower=float(result.rel_effect_size_ci_lower),
        relative_upper=float(result.rel_effect_size_ci_upper),
        pvalue=float(result.pvalue),
        standard_error=float(standard_error),
    )


def measure(frame: pd.DataFrame, spec: MetricSpec, control: str, *, cuped: bool) -> Estimate:
    """One reading of `spec` on `frame` (one row per user, a `variant` column)."""
    experiment = tt.Experiment({spec.name: spec.test(cuped=cuped)}, variant="variant")
    result = experiment.analyze(frame[["variant", *spec.columns]], control=control)
    return _estimate(result[spec.name])


def check_srm(
    frame: pd.DataFrame, control: str, treatment: str, alpha: float = SRM_ALPHA
) -> SrmCheck:
    """Sample-ratio mismatch against the planned 50/50 split: tea-tasting's normal test
    without continuity correction, whose z^2 is Pearson's chi-square with one degree."""
    result = tt.SampleRatio(method="norm", correction=False).analyze(
        frame[["variant"]], control, treatment, variant="variant"
    )
    return SrmCheck(
        control_users=int(result.control),
        treatment_users=int(result.treatment),
        chi_square=float(stats.norm.isf(result.pvalue / 2) ** 2),
        pvalue=float(result.pvalue),
        alpha=alpha,
    )


def conversion_counts(frame: pd.DataFrame, spec: MetricSpec) -> tuple[int, int] | None:
    """(successes, trials) when the metric is a conversion of 0/1 users, else None."""
    if spec.kind == "proportion":
        return int(frame[spec.numer].sum()), len(frame)
    if spec.kind != "ratio" or spec.denom is None:
        return None
    if all(set(frame[column].unique()) <= {0, 1} for column in (spec.numer, spec.denom)):
        return int(frame[spec.numer].sum()), int(frame[spec.denom].sum())
    return None


def bayesian_reading(
    frame: pd.DataFrame, spec: MetricSpec, control: str, cuped: Estimate
) -> BayesResult:
    """Beta-binomial for a conversion of 0/1 users, else the normal posterior of the CUPED
    reading."""
    is_control = frame["variant"] == control
    control_counts = conversion_counts(frame[is_control], spec)
    treatment_counts = conversion_counts(frame[~is_control], spec)
    if control_counts is None or treatment_counts is None:
        return normal_posterior(cuped.effect, cuped.standard_error)
    return beta_binomial(*control_counts, *treatment_counts)


def holm_adjusted(pvalues: dict[str, float], alpha: float) -> dict[str, float]:
    """Holm's step-down adjusted p-values over the metric family (tea-tasting's FWER
    correction with arbitrary dependence and Bonferroni steps)."""
    return _adjusted(pvalues, alpha, fdr=False)


def bh_adjusted(pvalues: dict[str, float], alpha: float) -> dict[str, float]:
    """Benjamini-Hochberg adjusted p-values (tea-tasting's FDR correction)."""
    return _adjusted(pvalues, alpha, fdr=True)


def _adjusted(pvalues: dict[str, float], alpha: float, *, fdr: bool) -> dict[str, float]:
    finite = {name: value for name, value in pvalues.items() if np.isfinite(value)}
    if not finite:
        return dict.fromkeys(pvalues, float("nan"))
    results = tt.experiment.ExperimentResult({name: {"pvalue": p} for name, p in finite.items()})
    if fdr:
        adjusted = tt.adjust_fdr(results, alpha=alpha)
    else:
        adjusted = tt.adjust_fwer(
            results, alpha=alpha, arbitrary_dependence=True, method="bonferroni"
        )
    (comparison,) = adjusted.values()
    corrected = {name: float(comparison[name]["pvalue_adj"]) for name in finite}
    return {name: corrected.get(name, float("nan")) for name in pvalues}


def analyze_metrics(
    frame: pd.DataFrame, control: str, alpha: float = ALPHA
) -> list[MetricAnalysis]:
    """Every metric, plain and CUPED, with Holm across the family on the CUPED p-values."""
    readings = {
        spec.name: (
            measure(frame, spec, control, cuped=False),
            measure(frame, spec, control, cuped=True),
        )
        for spec in METRICS
    }
    holm = holm_adjusted({name: cuped.pvalue for name, (_, cuped) in readings.items()}, alpha)
    analyses = []
    for spec in METRICS:
        plain, cuped = readings[spec.name]
        analyses.append(
            MetricAnalysis(
                name=spec.name,
                role=spec.role,
                description=spec.description,
                plain=plain,
                cuped=cuped,
                ci_narrowing=1 - cuped.interval_width / plain.interval_width,
                pvalue_holm=holm[spec.name],
                significant=holm[spec.name] < alpha,
                bayes=bayesian_reading(frame, spec, control, cuped),
            )
        )
    return analyses


def analyze_segments(
    frame: pd.DataFrame, control: str, alpha: float = ALPHA
) -> list[SegmentResult]:
    """Each metric's CUPED reading per traffic source and browser, BH across all of them."""
    rows: list[tuple[str, str, MetricSpec, int, int, Estimate]] = []
    for dimension in SEGMENT_COLUMNS:
        for value, segment in frame.groupby(dimension, sort=True):
            counts = segment["variant"].value_counts()
            control_users = int(counts.get(control, 0))
            treatment_users = int(len(segment) - control_users)
            if min(control_users, treatment_users) < MIN_SEGMENT_USERS:
                continue
            for spec in METRICS:
                estimate = measure(segment, spec, control, cuped=True)
                rows.append((dimension, str(value), spec, control_users, treatment_users, estimate))
    keys = [f"{dimension}={value}:{spec.name}" for dimension, value, spec, *_ in rows]
    adjusted = bh_adjusted(dict(zip(keys, (row[-1].pvalue for row in rows), strict=True)), alpha)
    return [
        SegmentResult(
            dimension=dimension,
            value=value,
            metric=spec.name,
            control_users=control_users,
            treatment_users=treatment_users,
            relative_effect=estimate.relative_effect,
            relative_lower=estimate.relative_lower,
            relative_upper=estimate.relative_upper,
            pvalue=estimate.pvalue,
            pvalue_bh=adjusted[key],
        )
        for key, (dimension, value, spec, control_users, treatment_users, estimate) in zip(
            keys, rows, strict=True
        )
    ]


def daily_looks(
    frame: pd.DataFrame, control: str, alpha: float = ALPHA, spec: MetricSpec = PRIMARY_METRIC
) -> list[SequentialLook]:
    """The primary metric as a team watching daily would have seen it: at each midnight, the
    users whose analysis window had closed, with the always-valid p-value and confidence
    sequence beside the naive fixed-horizon p-value."""
    ends = pd.to_datetime(frame["analysis_window_ended_at"], utc=True)
    first = ends.min().floor("D")
    looks_at = pd.date_range(first, ends.max().ceil("D"), freq="D", tz="UTC")
    dates, users, estimates, variances, control_levels = [], [], [], [], []
    for look in looks_at:
        seen = frame[ends <= look]
        counts = seen["variant"].value_counts()
        if len(counts) < 2 or counts.min() < 20 or seen[spec.denom or spec.numer].sum() == 0:
            continue
        estimate = measure(seen, spec, control, cuped=False)
        if not estimate.standard_error > 0:
            continue
        dates.append(look.date().isoformat())
        users.append(len(seen))
        estimates.append(estimate.effect)
        variances.append(estimate.standard_error**2)
        control_levels.append(estimate.control)
    if not dates:
        return []
    # tau is fixed from the first look's control level: what the team knew when it started.
    path = mixture_sprt(
        np.array(estimates),
        np.array(variances),
        mixture_sd=SEQUENTIAL_RELATIVE_MIXTURE_SD * abs(control_levels[0]),
        alpha=alpha,
    )
    naive = naive_pvalues(np.array(estimates), np.array(variances))
    return [
        SequentialLook(date, count, float(e), float(lo), float(hi), float(p), float(n))
        for date, count, e, lo, hi, p, n in zip(
            dates, users, path.estimate, path.lower, path.upper, path.pvalue, naive, strict=True
        )
    ]


def decide(srm: SrmCheck, metrics: list[MetricAnalysis], alpha: float) -> Verdict:
    """Ship only with a fair split, a significant primary lift and no guardrail significantly
    worse; each refusal says why."""
    if not srm.passed:
        return Verdict(
            "blocked",
            f"sample ratio mismatch: {srm.control_users} control vs {srm.treatment_users} "
            f"treatment users, chi-square {srm.chi_square:.2f}, p = {srm.pvalue:.2g} < "
            f"{srm.alpha}; the assignment is broken, so no metric can be trusted",
        )
    primary = metrics[0]
    lift = (
        f"{primary.name} {primary.cuped.relative_effect:+.2%} "
        f"[{primary.cuped.relative_lower:+.2%}, {primary.cuped.relative_upper:+.2%}], "
        f"Holm-adjusted p = {primary.pvalue_holm:.3g}"
    )
    if not primary.significant:
        return Verdict(
            "no decision",
            f"{lift}: not significant at alpha {alpha}; keep control, or run longer if the "
            "design's sample size was not reached",
        )
    if primary.cuped.effect < 0:
        return Verdict("do not ship", f"{lift}: treatment is worse")
    worse = [
        metric.name
        for metric in metrics
        if metric.role == "guardrail" and metric.significant and metric.cuped.effect < 0
    ]
    if worse:
        return Verdict("do not ship", f"{lift}, but guardrail(s) got worse: {', '.join(worse)}")
    return Verdict("ship", f"{lift}; no guardrail significantly worse")


def analyze_experiment(
    frame: pd.DataFrame,
    experiment_id: str,
    *,
    alpha: float = ALPHA,
    srm_alpha: float = SRM_ALPHA,
    segments: bool = True,
    sequential: bool = True,
) -> ExperimentAnalysis:
    """The full analysis of one experiment's per-user rows."""
    control, treatment = choose_arms(sorted(frame["variant"].unique()))
    srm = check_srm(frame, control, treatment, srm_alpha)
    metrics = analyze_metrics(frame, control, alpha)
    exposed = pd.to_datetime(frame["first_exposed_at"], utc=True)
    ends = pd.to_datetime(frame["analysis_window_ended_at"], utc=True)
    return ExperimentAnalysis(
        experiment_id=experiment_id,
        control=control,
        treatment=treatment,
        alpha=alpha,
        users=len(frame),
        started_at=_iso(exposed.min()),
        ended_at=_iso(ends.max()),
        srm=srm,
        metrics=metrics,
        segments=analyze_segments(frame, control, alpha) if segments else [],
        sequential=daily_looks(frame, control, alpha) if sequential else [],
        verdict=decide(srm, metrics, alpha),
    )


def _iso(moment: pd.Timestamp | dt.datetime) -> str:
    return pd.Timestamp(moment).tz_convert("UTC").isoformat()
