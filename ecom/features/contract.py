"""The churn feature contract: each feature once, as data.

dbt builds the columns (`dbt/macros/churn.sql`), Feast serves them (`feature_repo/`), the
quality gate checks their values (`ecom.quality.suites`), training and scoring read them and the
generator's calibration recomputes them (`ecom.synth.calibration`). Each of those reads this
module instead of keeping its own list, and tests prove the dbt marts' columns and types and
the Feast views equal it: adding, renaming or retyping a feature is an edit here plus the SQL
that computes it, and a missed reader fails a test rather than a prediction.

Pure data (the standard library and the relation names) only, so every stage (ecom.synth
included) may import it.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from enum import StrEnum

from ecom.relations import FEATURES_MART, MARTS_SCHEMA, SCORING_MART

# The one feature set training and serving ask Feast for by name.
FEATURE_SERVICE = "churn_v1"

MART_SCHEMA = MARTS_SCHEMA
# Both marts carry exactly the contract's columns: history cutoffs (training) and the scoring
# cutoff (batch scoring, materialization), built by one dbt macro.
FEATURE_MARTS = (FEATURES_MART.name, SCORING_MART.name)


class Kind(StrEnum):
    """How a model treats a feature: a number, or a label to encode."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class ColumnType:
    """One type in every vocabulary that needs it.

    `postgres` is the mart column's type as `information_schema.columns.data_type` spells it
    (also valid in DDL); `feast` names the `feast.types` type of the Feast field; `kind` is how
    pandas and the model treat the values. Key columns need only `postgres`.
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
# The names the feature table below uses for the feature types.
FEATURE_TYPES = {"integer": INTEGER, "float": FLOAT, "text": TEXT}


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
AGE_YEARS = Domain("age", 0, 120)
ANY = Domain("any")
DOMAINS = {domain.name: domain for domain in (COUNT, NON_NEGATIVE, RATE, AGE_YEARS, ANY)}
NULLABILITY = {"nullable": True, "not-null": False}


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
        if not self.description:
            raise ValueError(f"feature {self.name}: no description (say why it matters)")
        if self.type.feast is None or self.type.kind is None:
            raise ValueError(
                f"feature {self.name}: type {self.type.postgres!r} has no Feast type or model "
                f"kind; a feature needs both (one of {', '.join(FEATURE_TYPES)})"
            )

    @property
    def kind(self) -> Kind:
        return self.type.kind  # type: ignore[return-value]  # never None: see __post_init__


def parse_features(table: str) -> tuple[Feature, ...]:
    """Features from a table of `name type group domain nullability` lines, each followed by
    its indented description (why the feature matters): one row per feature, as
    `ecom.thelook` lists the raw columns. A wrong word fails at import, naming the feature."""
    features = []
    for entry in re.split(r"\n(?=\S)", textwrap.dedent(table).strip()):
        header, *description = entry.splitlines()
        try:
            name, type_name, group, domain, nullability = header.split()
            features.append(
                Feature(
                    name,
                    FEATURE_TYPES[type_name],
                    Group(group),
                    " ".join(line.strip() for line in description),
                    DOMAINS[domain],
                    NULLABILITY[nullability],
                )
            )
        except (KeyError, ValueError) as error:
            raise ValueError(
                f"feature table row {header!r}: {error!r}; a row is `name type group domain "
                f"nullability` with types {sorted(FEATURE_TYPES)}, groups "
                f"{[group.value for group in Group]}, domains {sorted(DOMAINS)}, "
                f"nullability {sorted(NULLABILITY)}, then the description indented below it"
            ) from error
    return tuple(features)


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
FEATURES = parse_features(
    """
    recency_days             float    rfm         non-negative  nullable
        Days since the last order (NULL if none): the longer a buyer waits, the likelier gone.
    frequency_orders         integer  rfm         count         not-null
        Orders in the 60-day window: habitual buyers churn least.
    monetary_value           float    rfm         non-negative  not-null
        Non-cancelled sales in the window: what a churner would cost.
    avg_order_value          float    rfm         non-negative  nullable
        Sales per non-cancelled order in the window (NULL without one): basket size.
    avg_days_between_orders  float    rfm         non-negative  nullable
        Lifetime days between orders (NULL under 2 orders): the user's own rhythm, against
        which recency is late or not.
    sessions_count           integer  engagement  count         not-null
        Sessions started in the window: visits fall before orders stop.
    events_count             integer  engagement  count         not-null
        Web events in the window: depth of browsing.
    product_views            integer  engagement  count         not-null
        Product page views in the window: active shopping intent.
    cart_adds                integer  engagement  count         not-null
        Add-to-cart events in the window: intent close to a purchase.
    purchase_events          integer  engagement  count         not-null
        Purchase events in the window: completed checkouts on the web.
    view_to_cart_rate        float    conversion  rate          nullable
        Sessions with a product view in the window that carted after it, over those sessions
        (NULL without such sessions): browsing that turns into intent.
    cart_to_purchase_rate    float    conversion  rate          nullable
        Sessions with a cart in the window that purchased after it, over those sessions (NULL
        without such sessions): intent that turns into orders.
    cancelled_orders         integer  conversion  count         not-null
        Orders placed in the window and cancelled: friction that drives buyers away.
    returned_orders          integer  conversion  count         not-null
        Orders returned in the window: dissatisfaction with what arrived.
    days_since_last_session  float    engagement  non-negative  nullable
        Days since the last web event (NULL if none): recency of attention, not only of orders.
    tenure_days              integer  profile     non-negative  not-null
        Whole days since sign-up: new customers churn differently from old ones.
    traffic_source           text     profile     any           nullable
        Acquisition channel at sign-up: channels bring customers of different loyalty.
    age                      integer  profile     age           nullable
        Age in years: needs and habits change with it.
    gender                   text     profile     any           nullable
        M or F: assortments and campaigns differ by it.
    country                  text     profile     any           nullable
        Country of the address: market, prices and delivery.
    """
)

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


def mart_column_types() -> dict[str, str]:
    """Column name -> PostgreSQL type of the feature marts, in order (keys first)."""
    columns = (*KEY_COLUMNS, *FEATURES)
    return {column.name: column.type.postgres for column in columns}
