"""The churn feature contract: each feature once, as data.

dbt builds the columns (`dbt/macros/churn.sql`), Feast serves them (`feature_repo/`), the
quality gate checks their values (`ecom.quality.suites`), training and scoring read them and the
generator's calibration recomputes them (`ecom.synth.calibration`). Each of those reads this
module instead of keeping its own list, and tests prove the dbt marts' columns and types and
the Feast views equal it: adding, renaming or retyping a feature is an edit here plus the SQL
that computes it, and a missed reader fails a test rather than a prediction.

Pure data and the standard library only, so every stage (ecom.synth included) may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The one feature set training and serving ask Feast for by name.
FEATURE_SERVICE = "churn_v1"

MART_SCHEMA = "analytics"
# Both marts carry exactly the contract's columns: history cutoffs (training) and the scoring
# cutoff (batch scoring, materialization), built by one dbt macro.
FEATURE_MARTS = ("mart_churn_features", "mart_churn_scoring")


class Kind(StrEnum):
    """How a model treats a feature: a number, or a label to encode."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class ColumnType:
    """One type in every vocabulary that needs it.

    `postgres` is the mart column's type as `information_schema.columns.data_type` spells it
    (also valid in DDL); `feast` names the `feast.types` type of the Feast field; `kind` is how
    pandas and the model treat the values.
    """

    postgres: str
    feast: str | None = None
    kind: Kind | None = None


BIGINT = ColumnType("bigint", "Int64", Kind.NUMERIC)
DATE = ColumnType("date")
TIMESTAMPTZ = ColumnType("timestamp with time zone")
INTEGER = ColumnType("integer", "Int64", Kind.NUMERIC)
FLOAT = ColumnType("double precision", "Float64", Kind.NUMERIC)
TEXT = ColumnType("text", "String", Kind.CATEGORICAL)


class Group(StrEnum):
    """What a feature describes; each group is one Feast feature view, in the service's order."""

    RFM = "rfm"
    ENGAGEMENT = "engagement"
    CONVERSION = "conversion"
    PROFILE = "profile"


@dataclass(frozen=True)
class Domain:
    """The values the quality gate accepts, bounds inclusive (None: unbounded that side)."""

    name: str
    min_value: float | None = None
    max_value: float | None = None

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        return self.min_value, self.max_value


COUNT = Domain("count", 0)
NON_NEGATIVE = Domain("non-negative", 0)
RATE = Domain("rate", 0, 1)
# Humans and TheLook's generator both live between these ages.
AGE_YEARS = Domain("age in years", 0, 120)
ANY = Domain("any")


@dataclass(frozen=True)
class Column:
    """A key column of the feature marts."""

    name: str
    type: ColumnType
    description: str


@dataclass(frozen=True)
class Feature:
    """One churn feature: the mart column, the Feast field and the model input of that name."""

    name: str
    type: ColumnType
    group: Group
    description: str
    domain: Domain = ANY
    nullable: bool = True

    def __post_init__(self) -> None:
        if self.type.feast is None or self.type.kind is None:
            raise ValueError(
                f"feature {self.name}: type {self.type.postgres!r} has no Feast type or model "
                "kind; a feature needs both (use INTEGER, FLOAT or TEXT)"
            )

    @property
    def kind(self) -> Kind:
        return self.type.kind  # type: ignore[return-value]  # never None: see __post_init__


# The marts' key: one row per (user_id, cutoff_date); feature_timestamp is Feast's event time.
KEY_COLUMNS = (
    Column("user_id", BIGINT, "Customer (TheLook users.id): Feast's entity key."),
    Column("cutoff_date", DATE, "Cutoff day; features use only data strictly before it."),
    Column(
        "feature_timestamp",
        TIMESTAMPTZ,
        "The cutoff instant (cutoff_date 00:00 UTC): Feast's event timestamp.",
    ),
)

# In the marts' column order (after the keys). Window counts are zero, never NULL, for an
# active user; ratios and "days since" are NULL when their denominator or event never happened.
FEATURES = (
    Feature(
        "recency_days", FLOAT, Group.RFM,
        "Days since the last order (NULL if none): the longer a buyer waits, the likelier gone.",
        NON_NEGATIVE,
    ),
    Feature(
        "frequency_orders", INTEGER, Group.RFM,
        "Orders in the 60-day window: habitual buyers churn least.",
        COUNT, nullable=False,
    ),
    Feature(
        "monetary_value", FLOAT, Group.RFM,
        "Non-cancelled sales in the window: what a churner would cost.",
        NON_NEGATIVE, nullable=False,
    ),
    Feature(
        "avg_order_value", FLOAT, Group.RFM,
        "Sales per non-cancelled order in the window (NULL without one): basket size.",
        NON_NEGATIVE,
    ),
    Feature(
        "avg_days_between_orders", FLOAT, Group.RFM,
        "Lifetime days between orders (NULL under 2 orders): the user's own rhythm, against "
        "which recency is late or not.",
        NON_NEGATIVE,
    ),
    Feature(
        "sessions_count", INTEGER, Group.ENGAGEMENT,
        "Sessions started in the window: visits fall before orders stop.",
        COUNT, nullable=False,
    ),
    Feature(
        "events_count", INTEGER, Group.ENGAGEMENT,
        "Web events in the window: depth of browsing.",
        COUNT, nullable=False,
    ),
    Feature(
        "product_views", INTEGER, Group.ENGAGEMENT,
        "Product page views in the window: active shopping intent.",
        COUNT, nullable=False,
    ),
    Feature(
        "cart_adds", INTEGER, Group.ENGAGEMENT,
        "Add-to-cart events in the window: intent close to a purchase.",
        COUNT, nullable=False,
    ),
    Feature(
        "purchase_events", INTEGER, Group.ENGAGEMENT,
        "Purchase events in the window: completed checkouts on the web.",
        COUNT, nullable=False,
    ),
    Feature(
        "view_to_cart_rate", FLOAT, Group.CONVERSION,
        "cart_adds / product_views (NULL without views): browsing that turns into intent.",
        RATE,
    ),
    Feature(
        "cart_to_purchase_rate", FLOAT, Group.CONVERSION,
        "purchase_events / cart_adds (NULL without cart adds): intent that turns into orders.",
        RATE,
    ),
    Feature(
        "cancelled_orders", INTEGER, Group.CONVERSION,
        "Orders placed in the window and cancelled: friction that drives buyers away.",
        COUNT, nullable=False,
    ),
    Feature(
        "returned_orders", INTEGER, Group.CONVERSION,
        "Orders returned in the window: dissatisfaction with what arrived.",
        COUNT, nullable=False,
    ),
    Feature(
        "days_since_last_session", FLOAT, Group.ENGAGEMENT,
        "Days since the last web event (NULL if none): recency of attention, not only of orders.",
        NON_NEGATIVE,
    ),
    Feature(
        "tenure_days", INTEGER, Group.PROFILE,
        "Whole days since sign-up: new customers churn differently from old ones.",
        NON_NEGATIVE, nullable=False,
    ),
    Feature(
        "traffic_source", TEXT, Group.PROFILE,
        "Acquisition channel at sign-up: channels bring customers of different loyalty.",
    ),
    Feature("age", INTEGER, Group.PROFILE, "Age in years.", AGE_YEARS),
    Feature("gender", TEXT, Group.PROFILE, "M or F."),
    Feature("country", TEXT, Group.PROFILE, "Country of the address: market and delivery."),
)  # fmt: skip

FEATURE_NAMES = tuple(feature.name for feature in FEATURES)
# Every column of both marts, in order: what dbt builds and the quality gate expects.
MART_COLUMNS = (*(column.name for column in KEY_COLUMNS), *FEATURE_NAMES)


def features_in(group: Group | str) -> tuple[Feature, ...]:
    """The features of one group (one Feast view), in mart order."""
    group = Group(group)
    return tuple(feature for feature in FEATURES if feature.group is group)


def features_of_kind(kind: Kind) -> tuple[str, ...]:
    """The names of the numeric or the categorical features, in mart order."""
    return tuple(feature.name for feature in FEATURES if feature.kind is kind)


def features_in_domain(domain: Domain) -> tuple[str, ...]:
    """The names of the features the gate checks against `domain`, in mart order."""
    return tuple(feature.name for feature in FEATURES if feature.domain == domain)


def mart_column_types() -> dict[str, str]:
    """Column name -> PostgreSQL type of the feature marts, in order (keys first)."""
    columns = (*KEY_COLUMNS, *FEATURES)
    return {column.name: column.type.postgres for column in columns}
