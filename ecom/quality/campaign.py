"""Is the campaign a randomized experiment? The gate's sample-ratio and balance checks.

Every uplift estimate (the learners, Qini, the IPW policy values) rests on the contact being
assigned by a fair coin at the campaign's planned share. Two checks on
`analytics.mart_campaign_outcomes` say whether the data still looks like that:

- **Sample-ratio mismatch (SRM)**, per campaign: a chi-square test of the treated and held-out
  counts against the planned share each contact row records (`planned_treatment_share`). A
  mismatch at p < 0.001 means users were lost, added or re-assigned on one side (a broken
  export, a filter applied to one arm), so no effect measured on it can be trusted: it blocks.
- **Covariate balance**, per campaign and feature: the standardized mean difference (SMD) of
  each numeric churn feature as of the contact (the `mart_churn_features` row of the contact's
  cutoff: campaigns go out at the weekly cutoffs) between the arms. The usual alarm is
  |SMD| > 0.1; in a small campaign chance alone passes that, so a feature is flagged only when
  its SMD is also beyond chance (|SMD| > 3.29 standard errors, p < 0.001). Imbalance warns and
  does not block: a randomized design can be unlucky, and the learners adjust for features.
- **Feature coverage**, per campaign: the share of its users with a features row at the
  contact's cutoff. A campaign older than the features mart's oldest cutoff has none, and the
  uplift stage's point-in-time join then hands the learners empty features for all its users:
  it warns, naming the campaign and the date.

The statistics are pure functions over counts and frames (unit-tested); `campaign_checks`
reads the mart and returns the gate's outcome and failures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ecom.db import read_query_frame, table_exists
from ecom.features.contract import Kind, features_of_kind
from ecom.quality.report import ExpectationFailure, SuiteOutcome

OUTCOMES = ("analytics", "mart_campaign_outcomes")
FEATURES = ("analytics", "mart_churn_features")
SUITE_NAME = "analytics.mart_campaign_outcomes (randomization)"
SRM_ALPHA = 0.001  # a data-quality alarm, the A/B platforms' usual level, not a hypothesis test
SMD_THRESHOLD = 0.1
SMD_CHANCE_Z = float(stats.norm.ppf(1 - SRM_ALPHA / 2))  # 3.29
MIN_FEATURE_COVERAGE = 0.99  # eligible users are active users, so all have a features row


@dataclass(frozen=True)
class SampleRatio:
    """One campaign's split against its plan."""

    campaign_id: str
    treated: int
    control: int
    planned_share: float
    chi_square: float
    pvalue: float

    @property
    def observed_share(self) -> float:
        return self.treated / (self.treated + self.control)

    @property
    def mismatched(self) -> bool:
        return self.pvalue < SRM_ALPHA

    def describe(self) -> str:
        return (
            f"campaign {self.campaign_id}: {self.treated:,} treated and {self.control:,} held "
            f"out (share {self.observed_share:.3f}) against a planned share of "
            f"{self.planned_share:.3f}: chi-square {self.chi_square:.2f}, p = {self.pvalue:.2g}"
        )


def sample_ratio(campaign_id: str, treated: int, control: int, planned_share: float) -> SampleRatio:
    """Pearson's chi-square (1 degree of freedom) of the two arms' counts against the plan."""
    if not 0.0 < planned_share < 1.0:
        raise ValueError(
            f"campaign {campaign_id}: planned_treatment_share must be strictly between 0 and 1, "
            f"got {planned_share}"
        )
    total = treated + control
    if total == 0:
        raise ValueError(f"campaign {campaign_id}: no users in either arm")
    expected = np.array([total * planned_share, total * (1.0 - planned_share)])
    observed = np.array([treated, control], dtype=float)
    chi_square = float(((observed - expected) ** 2 / expected).sum())
    return SampleRatio(
        campaign_id=campaign_id,
        treated=int(treated),
        control=int(control),
        planned_share=float(planned_share),
        chi_square=chi_square,
        pvalue=float(stats.chi2.sf(chi_square, df=1)),
    )


def sample_ratios(outcomes: pd.DataFrame) -> list[SampleRatio]:
    """Per campaign of a frame with campaign_id, is_treated and planned_treatment_share.

    A campaign whose rows disagree on the planned share has no one plan to test against: that
    is an error naming it, not a guess."""
    ratios = []
    for campaign_id, rows in outcomes.groupby("campaign_id", sort=True):
        shares = rows["planned_treatment_share"].dropna().unique()
        if len(shares) != 1:
            raise ValueError(
                f"{'.'.join(OUTCOMES)}: campaign {campaign_id} has {len(shares)} distinct "
                f"planned_treatment_share values ({', '.join(map(str, shares[:3]))}); one plan "
                "per campaign is needed for the sample-ratio check"
            )
        treated = int((rows["is_treated"] == 1).sum())
        ratios.append(sample_ratio(str(campaign_id), treated, len(rows) - treated, shares[0]))
    return ratios


@dataclass(frozen=True)
class FeatureBalance:
    """One feature's standardized mean difference between the arms of one campaign."""

    campaign_id: str
    feature: str
    smd: float
    standard_error: float

    @property
    def imbalanced(self) -> bool:
        return abs(self.smd) > max(SMD_THRESHOLD, SMD_CHANCE_Z * self.standard_error)

    def describe(self) -> str:
        return (
            f"campaign {self.campaign_id}: {self.feature} differs between the arms by "
            f"{self.smd:+.3f} standard deviations (beyond both {SMD_THRESHOLD} and chance, "
            f"{SMD_CHANCE_Z:.2f} x {self.standard_error:.3f})"
        )


def standardized_mean_difference(treated: np.ndarray, control: np.ndarray) -> float:
    """(mean treated - mean control) / sqrt((var treated + var control) / 2); 0 when neither
    arm varies (a constant feature cannot be imbalanced), NaN values ignored."""
    treated = treated[~np.isnan(treated)]
    control = control[~np.isnan(control)]
    if len(treated) < 2 or len(control) < 2:
        return 0.0
    spread = math.sqrt((treated.var(ddof=1) + control.var(ddof=1)) / 2.0)
    if spread == 0.0:
        return 0.0
    return float((treated.mean() - control.mean()) / spread)


def feature_balance(frame: pd.DataFrame, features: list[str]) -> list[FeatureBalance]:
    """Per campaign and feature, from a frame with campaign_id, is_treated and the features.

    The standard error of an SMD under randomization is about sqrt(1/n_treated + 1/n_control)."""
    missing = [name for name in ("campaign_id", "is_treated", *features) if name not in frame]
    if missing:
        raise ValueError(f"balance check needs column(s) {', '.join(missing)}")
    balances = []
    for campaign_id, rows in frame.groupby("campaign_id", sort=True):
        treated = rows["is_treated"].to_numpy() == 1
        n_treated, n_control = int(treated.sum()), int((~treated).sum())
        if n_treated == 0 or n_control == 0:
            continue  # one arm only: the sample-ratio check says so
        standard_error = math.sqrt(1.0 / n_treated + 1.0 / n_control)
        for name in features:
            values = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float)
            smd = standardized_mean_difference(values[treated], values[~treated])
            balances.append(FeatureBalance(str(campaign_id), name, smd, standard_error))
    return balances


@dataclass(frozen=True)
class FeatureCoverage:
    """How many of a campaign's users have features as of the contact."""

    campaign_id: str
    contact_date: str
    users: int
    with_features: int

    @property
    def share(self) -> float:
        return self.with_features / self.users if self.users else 1.0

    @property
    def short(self) -> bool:
        return self.share < MIN_FEATURE_COVERAGE

    def describe(self) -> str:
        return (
            f"campaign {self.campaign_id}: {self.with_features:,} of {self.users:,} users have "
            f"features as of the contact on {self.contact_date} ({self.share:.0%}); the uplift "
            "stage sees the rest with empty features (is the campaign older than the features "
            "mart's oldest cutoff?)"
        )


def feature_coverage(frame: pd.DataFrame) -> list[FeatureCoverage]:
    """Per campaign of a frame with campaign_id, contact_date and has_features."""
    return [
        FeatureCoverage(
            str(campaign_id),
            str(contact_date),
            len(rows),
            int(rows["has_features"].astype(bool).sum()),
        )
        for (campaign_id, contact_date), rows in frame.groupby(
            ["campaign_id", "contact_date"], sort=True
        )
    ]


def _failures(
    ratios: list[SampleRatio],
    balances: list[FeatureBalance],
    coverages: Sequence[FeatureCoverage] = (),
) -> list[ExpectationFailure]:
    table = ".".join(OUTCOMES)
    failures = [
        ExpectationFailure(
            table,
            "is_treated",
            "campaign_sample_ratio",
            f"p = {ratio.pvalue:.2g}",
            f"{table}: sample-ratio mismatch in {ratio.describe()} < {SRM_ALPHA}; the "
            "assignment is broken, so no uplift estimate on it can be trusted",
            rows=ratio.treated + ratio.control,
        )
        for ratio in ratios
        if ratio.mismatched
    ]
    failures += [
        ExpectationFailure(
            table,
            balance.feature,
            "campaign_covariate_balance",
            f"SMD {balance.smd:+.3f}",
            f"{table}: covariate imbalance in {balance.describe()}",
            severity="warning",
        )
        for balance in balances
        if balance.imbalanced
    ]
    failures += [
        ExpectationFailure(
            table,
            "contact_date",
            "campaign_feature_coverage",
            f"{coverage.share:.0%} with features",
            f"{table}: features missing in {coverage.describe()}",
            severity="warning",
            rows=coverage.users - coverage.with_features,
        )
        for coverage in coverages
        if coverage.short
    ]
    return failures


BALANCE_SQL = """
select outcomes.campaign_id, outcomes.contact_date, outcomes.is_treated,
    features.user_id is not null as has_features, {columns}
from {outcomes} as outcomes
left join {features} as features
    on features.user_id = outcomes.user_id and features.cutoff_date = outcomes.contact_date
"""


def campaign_checks(database_url: str) -> tuple[SuiteOutcome, list[ExpectationFailure]] | None:
    """The SRM and balance checks on the loaded campaigns, as one gate suite; None when no
    campaign mart exists or it is empty (real TheLook), so the gate checks nothing there."""
    if not table_exists(database_url, *OUTCOMES):
        return None
    outcomes = read_query_frame(
        database_url,
        f"select campaign_id, is_treated, planned_treatment_share from {'.'.join(OUTCOMES)}",
        dtype={"campaign_id": "object"},
    )
    if outcomes.empty:
        return None
    ratios = sample_ratios(outcomes)
    balances: list[FeatureBalance] = []
    coverages: list[FeatureCoverage] = []
    if table_exists(database_url, *FEATURES):
        numeric = list(features_of_kind(Kind.NUMERIC))
        frame = read_query_frame(
            database_url,
            BALANCE_SQL.format(
                columns=", ".join(f"features.{name}" for name in numeric),
                outcomes=".".join(OUTCOMES),
                features=".".join(FEATURES),
            ),
            dtype={"campaign_id": "object", "contact_date": "object"},
        )
        frame["has_features"] = frame["has_features"].map({"t": True, "f": False})
        coverages = feature_coverage(frame)
        balances = feature_balance(frame[frame["has_features"]], numeric)
    failures = _failures(ratios, balances, coverages)
    outcome = SuiteOutcome(
        SUITE_NAME,
        evaluated=len(ratios) + len(balances) + len(coverages),
        failed=sum(failure.blocks for failure in failures),
        rows=len(outcomes),
        warned=sum(not failure.blocks for failure in failures),
    )
    return outcome, failures
