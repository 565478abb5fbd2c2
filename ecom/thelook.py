"""The TheLook tables as they land in the `raw` schema: column names and order, types, keys.

This is the contract between the generator (which writes these headers), the loader (which
creates these tables) and dbt's sources (which read them). Column names and order are the
current BigQuery export's. Older copies of the dataset (Kaggle's) lack the geometry columns:
`geometry` names, per table, the WKT point column the loader derives from longitude and
latitude when a file has none.
"""

from __future__ import annotations

from dataclasses import dataclass

RAW_SCHEMA = "raw"


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str  # one of: bigint, integer, double precision, text, timestamptz
    # TheLook's own generator writes every missing value as a quoted empty string (`""`, its CSVs
    # use QUOTE_NONNUMERIC), where other copies leave the field empty. A column whose empty
    # value means "missing" loads both as NULL; no column of the contract keeps an empty string
    # as a value, but a text column that did would say so here.
    empty_is_missing: bool = True

    @property
    def is_text(self) -> bool:
        return self.pg_type == "text"


@dataclass(frozen=True)
class RawTable:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    required: bool = True  # False: real exports never have it (the generator's A/B assignments)
    # (point column, longitude column, latitude column): the point a file may omit.
    geometry: tuple[str, str, str] | None = None

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def empty_is_missing(self) -> tuple[str, ...]:
        """The columns where a quoted empty field (`""`) is NULL, as an unquoted one is."""
        return tuple(column.name for column in self.columns if column.empty_is_missing)

    @property
    def csv_name(self) -> str:
        return f"{self.name}.csv"

    @property
    def file_names(self) -> tuple[str, ...]:
        """The lower-cased file names this table loads from: plain or gzip-compressed CSV."""
        return (self.csv_name, f"{self.csv_name}.gz")


def _columns(spec: str) -> tuple[Column, ...]:
    """Parse 'name type, name type' so each table reads as one line per column group."""
    columns = []
    for item in spec.split(","):
        name, _, pg_type = item.strip().partition(" ")
        columns.append(Column(name, pg_type.strip()))
    return tuple(columns)


USERS = RawTable(
    "users",
    _columns(
        "id bigint, first_name text, last_name text, email text, age integer, gender text, "
        "state text, street_address text, postal_code text, city text, country text, "
        "latitude double precision, longitude double precision, traffic_source text, "
        "created_at timestamptz, user_geom text"
    ),
    ("id",),
    geometry=("user_geom", "longitude", "latitude"),
)

ORDERS = RawTable(
    "orders",
    _columns(
        "order_id bigint, user_id bigint, status text, gender text, created_at timestamptz, "
        "returned_at timestamptz, shipped_at timestamptz, delivered_at timestamptz, num_of_item integer"
    ),
    ("order_id",),
)

ORDER_ITEMS = RawTable(
    "order_items",
    _columns(
        "id bigint, order_id bigint, user_id bigint, product_id bigint, inventory_item_id bigint, "
        "status text, created_at timestamptz, shipped_at timestamptz, delivered_at timestamptz, "
        "returned_at timestamptz, sale_price double precision"
    ),
    ("id",),
)

PRODUCTS = RawTable(
    "products",
    _columns(
        "id bigint, cost double precision, category text, name text, brand text, "
        "retail_price double precision, department text, sku text, distribution_center_id bigint"
    ),
    ("id",),
)

INVENTORY_ITEMS = RawTable(
    "inventory_items",
    _columns(
        "id bigint, product_id bigint, created_at timestamptz, sold_at timestamptz, "
        "cost double precision, product_category text, product_name text, product_brand text, "
        "product_retail_price double precision, product_department text, product_sku text, "
        "product_distribution_center_id bigint"
    ),
    ("id",),
)

DISTRIBUTION_CENTERS = RawTable(
    "distribution_centers",
    _columns(
        "id bigint, name text, latitude double precision, longitude double precision, "
        "distribution_center_geom text"
    ),
    ("id",),
    geometry=("distribution_center_geom", "longitude", "latitude"),
)

EVENTS = RawTable(
    "events",
    _columns(
        "id bigint, user_id bigint, sequence_number integer, session_id text, created_at timestamptz, "
        "ip_address text, city text, state text, postal_code text, browser text, "
        "traffic_source text, uri text, event_type text"
    ),
    ("id",),
)

EXPERIMENT_ASSIGNMENTS = RawTable(
    "experiment_assignments",
    _columns("experiment_id text, user_id bigint, variant text, assigned_at timestamptz"),
    ("experiment_id", "user_id"),
    required=False,
)

THELOOK_TABLES: tuple[RawTable, ...] = (
    USERS,
    ORDERS,
    ORDER_ITEMS,
    PRODUCTS,
    INVENTORY_ITEMS,
    DISTRIBUTION_CENTERS,
    EVENTS,
)
# The generator's planted retention campaign (`ecom.synth.campaign`); real exports have none.
CAMPAIGN_CONTACTS = RawTable(
    "campaign_contacts",
    _columns(
        "campaign_id text, user_id bigint, contacted_at timestamptz, variant text, "
        "channel text, cost double precision, planned_treatment_share double precision"
    ),
    ("campaign_id", "user_id"),
    required=False,
)

ALL_TABLES: tuple[RawTable, ...] = (*THELOOK_TABLES, CAMPAIGN_CONTACTS, EXPERIMENT_ASSIGNMENTS)
TABLES_BY_NAME: dict[str, RawTable] = {table.name: table for table in ALL_TABLES}

ORDER_STATUSES = ("Processing", "Shipped", "Complete", "Cancelled", "Returned")
EVENT_TYPES = ("home", "department", "product", "cart", "purchase", "cancel")
TRAFFIC_SOURCES_USERS = ("Search", "Organic", "Facebook", "Email", "Display")
TRAFFIC_SOURCES_EVENTS = ("Email", "Adwords", "Organic", "YouTube", "Facebook")
BROWSERS = ("Chrome", "Firefox", "Safari", "IE", "Other")

# The public export writes timestamps like this; PostgreSQL parses it into timestamptz as is,
# and so the other forms copies use (`...01:11:58 UTC`, `...T01:11:58Z`, `...01:11:58+00:00`).
# TheLook's generator writes no zone (`2024-06-11 07:46:05`, microseconds only when non-zero):
# the loader reads a zoneless timestamp as UTC.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"
