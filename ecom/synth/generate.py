"""`ecom generate`: build a TheLook-shaped world with planted truth and write it as CSV.

The stages run in a fixed order, each with its own random stream spawned from the seed, so the
output is a pure function of (seed, n_users, end_date).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ecom.synth.behaviour import BehaviourParameters, sample_latent_users
from ecom.synth.calendar import DATA_START, build_timeline, days_to_datetime64
from ecom.synth.campaign import CampaignPlan, plant_campaign, write_campaign_truth
from ecom.synth.catalog import DEPARTMENTS, Catalogue, build_catalogue, catalogue_size
from ecom.synth.drift import DriftPlan, drift_sessions, drift_user_sources
from ecom.synth.events import (
    EVENT_CART,
    EVENT_DEPARTMENT,
    EVENT_PRODUCT,
    EVENT_PURCHASE,
    Events,
    expand_events,
    first_event_days,
    layout_sessions,
)
from ecom.synth.experiment import (
    ExperimentDesign,
    build_assignments,
    design_experiment,
    sample_latent_variants,
)
from ecom.synth.fingerprint import data_fingerprint, write_fingerprint
from ecom.synth.identifiers import ipv4_strings, uuid_strings
from ecom.synth.orders import build_order_tables
from ecom.synth.sessions import (
    KIND_SIGNUP,
    Sessions,
    build_anonymous_sessions,
    build_registered_sessions,
    concatenate_sessions,
    order_cap_days,
)
from ecom.synth.truth import write_truth
from ecom.synth.users import (
    Places,
    build_places,
    sample_locations,
    sample_signup_days,
    sample_user_profiles,
)
from ecom.synth.writer import format_points, write_table
from ecom.thelook import (
    CAMPAIGN_CONTACTS,
    DISTRIBUTION_CENTERS,
    EVENT_TYPES,
    EVENTS,
    EXPERIMENT_ASSIGNMENTS,
    INVENTORY_ITEMS,
    ORDER_ITEMS,
    ORDERS,
    PRODUCTS,
    USERS,
)

logger = logging.getLogger(__name__)

STAGES = (
    "users",
    "catalogue",
    "sessions",
    "events",
    "orders",
    "experiment",
    "write users",
    "write catalogue",
    "write orders",
    "write events",
    "write truth",
)


@dataclass(frozen=True)
class GenerationSummary:
    rows: dict[str, int]
    seconds: float
    out_dir: Path
    end_date: dt.date
    seed: int = 0
    n_users: int = 0
    experiment_id: str = ""


def _slug(values: pd.Series) -> pd.Series:
    return values.str.lower().str.replace("&", "and").str.replace(r"[^a-z0-9]+", "-", regex=True)


def _event_uris(events: Events, catalogue: Catalogue) -> pa.Array:
    """URI per event: '/', '/department/<dept>/category/<cat>/brand/<brand>', '/product/<id>', '/cart'...

    Built as indexes into one dictionary of distinct URIs, so 2.4M strings cost one Arrow take.
    """
    products = catalogue.products
    n_products = len(products)
    fixed = ["/", "/cart", "/purchase", "/cancel"]
    product_uris = "/product/" + products["id"].astype(str)
    department_uris = (
        "/department/"
        + products["department"].str.lower()
        + "/category/"
        + _slug(products["category"])
        + "/brand/"
        + _slug(products["brand"])
    )
    dictionary = pa.array(
        fixed + product_uris.tolist() + department_uris.tolist(), type=pa.string()
    )
    index = np.select(
        [
            events.event_type == EVENT_PRODUCT,
            events.event_type == EVENT_DEPARTMENT,
            events.event_type == EVENT_CART,
            events.event_type == EVENT_PURCHASE,
            events.event_type == 0,
        ],
        [
            len(fixed) + events.product_row,
            len(fixed) + n_products + events.product_row,
            1,
            2,
            0,
        ],
        3,
    )
    return dictionary.take(pa.array(index))


def _department_pages_point_at_next_product(
    rng: np.random.Generator, events: Events, catalogue: Catalogue
) -> None:
    """A department page lists the product viewed next; otherwise a popular product of the department."""
    department_positions = np.flatnonzero(events.event_type == EVENT_DEPARTMENT)
    following = np.minimum(department_positions + 1, len(events.session) - 1)
    continues = (events.session[following] == events.session[department_positions]) & (
        events.event_type[following] == EVENT_PRODUCT
    )
    events.product_row[department_positions[continues]] = events.product_row[following[continues]]
    lonely = department_positions[~continues]
    events.product_row[lonely] = catalogue.sample_products(rng, events.department[lonely])


def _events_table(
    rng: np.random.Generator,
    sessions: Sessions,
    events: Events,
    catalogue: Catalogue,
    user_ids: np.ndarray,
    user_locations: pd.DataFrame,
    places: Places,
    params: BehaviourParameters,
) -> dict[str, object]:
    """The events CSV columns, ordered by time and numbered 1..n."""
    _department_pages_point_at_next_product(rng, events, catalogue)
    n_sessions = len(sessions)
    anonymous = sessions.owner < 0
    visitor_locations = sample_locations(rng, places, int(anonymous.sum()))
    owner = np.maximum(sessions.owner, 0)
    city = user_locations["location_city"].to_numpy()[owner].astype(object)
    state = user_locations["state"].to_numpy()[owner].astype(object)
    postal = user_locations["postal_code"].to_numpy()[owner].astype(object)
    city[anonymous] = visitor_locations["city"].to_numpy()
    state[anonymous] = visitor_locations["state"].to_numpy()
    postal[anonymous] = visitor_locations["postal_code"].to_numpy()
    per_session = {
        "session_id": uuid_strings(rng, n_sessions),
        "ip_address": ipv4_strings(rng, n_sessions),
        "city": pa.array(city, type=pa.string()),
        "state": pa.array(state, type=pa.string()),
        "postal_code": pa.array(postal, type=pa.string()),
        "browser": pa.array(
            np.asarray(params.browsers, dtype=object)[sessions.browser], pa.string()
        ),
        "traffic_source": pa.array(
            np.asarray(params.sources, dtype=object)[sessions.source], pa.string()
        ),
    }
    uris = _event_uris(events, catalogue)
    order = np.lexsort((events.sequence_number, events.session, events.time_days))
    session_of_event = pa.array(events.session[order])
    owner_of_event = sessions.owner[events.session[order]]
    columns: dict[str, object] = {
        "id": np.arange(1, len(order) + 1),
        "user_id": pa.array(
            user_ids[np.maximum(owner_of_event, 0)], type=pa.int64(), mask=owner_of_event < 0
        ),
        "sequence_number": events.sequence_number[order],
        "created_at": days_to_datetime64(events.time_days[order]),
        "uri": uris.take(pa.array(order)),
        "event_type": pa.array(np.asarray(EVENT_TYPES, dtype=object)[events.event_type[order]]),
    }
    for name, values in per_session.items():
        columns[name] = pc.take(values, session_of_event)
    return columns


def generate_dataset(
    n_users: int,
    seed: int,
    out_dir: Path,
    end_date: dt.date | None = None,
    progress: bool = True,
    params: BehaviourParameters | None = None,
    drift: DriftPlan | None = None,
    campaign: CampaignPlan | None = None,
) -> GenerationSummary:
    """Generate N users' TheLook world ending before `end_date` (default today, UTC) into `out_dir`.

    Writes the seven TheLook CSVs, `experiment_assignments.csv` and `_truth/`. All timestamps
    fall in [2019-01-01, end_date 00:00 UTC), so nothing is in the future on the end date itself.
    With `drift`, the last weeks are changed as `ecom.synth.drift` describes. With `campaign`
    (`ecom generate`'s default), `campaign_contacts.csv` and its truth are planted
    (`ecom.synth.campaign`); the churn oracle does not model its effect on treated users.
    """
    if n_users < 1:
        raise ValueError(f"n_users must be at least 1, got {n_users}")
    end_date = end_date or dt.datetime.now(dt.UTC).date()
    params = params or BehaviourParameters()
    began = time.perf_counter()
    timeline = build_timeline(end_date)  # validates end_date before anything is written
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    streams = np.random.SeedSequence([seed, n_users, end_date.toordinal()]).spawn(8)
    (
        rng_users,
        rng_latent,
        rng_catalogue,
        rng_sessions,
        rng_events,
        rng_orders,
        rng_experiment,
        rng_output,
    ) = (np.random.default_rng(stream) for stream in streams)
    rows: dict[str, int] = {}

    with _progress(progress) as advance:
        places = build_places()
        signup_days = sample_signup_days(rng_users, timeline, n_users)
        profiles = sample_user_profiles(rng_users, places, n_users)
        latent = sample_latent_users(rng_latent, n_users, params)
        user_ids = np.arange(1, n_users + 1)
        design = design_experiment(timeline)
        latent_treated = sample_latent_variants(rng_experiment, n_users)
        advance("users")

        catalogue = build_catalogue(rng_catalogue, catalogue_size(n_users))
        advance("catalogue")

        registered = build_registered_sessions(
            rng_sessions, timeline, params, latent, signup_days, design, latent_treated
        )
        cap_days = order_cap_days(registered, n_users, params.max_orders_per_user)
        anonymous = build_anonymous_sessions(rng_sessions, timeline, params, n_users)
        sessions = concatenate_sessions(registered, anonymous)
        if drift is not None:
            # A stream of its own: the other stages' streams are seeded as without drift.
            rng_drift = np.random.default_rng([seed, n_users, end_date.toordinal(), 1])
            drift_sessions(rng_drift, sessions, timeline.span_days, drift)
            profiles = drift_user_sources(
                rng_drift, profiles, signup_days, timeline.span_days, drift
            )
        if campaign is not None:  # a stream of its own, like drift's
            planted = plant_campaign(
                np.random.default_rng([seed, n_users, end_date.toordinal(), 2]),
                sessions,
                latent,
                signup_days,
                cap_days,
                timeline,
                design,
                params,
                latent_treated,
                user_ids,
                campaign,
            )
            sessions, cap_days = planted.sessions, planted.order_cap_days
        advance("sessions")

        user_is_male = profiles["gender"].to_numpy() == "M"
        layout = layout_sessions(rng_events, sessions, catalogue, user_is_male)
        events = expand_events(rng_events, sessions, layout, catalogue)
        advance("events")

        order_tables = build_order_tables(
            rng_orders,
            timeline,
            sessions,
            layout,
            events,
            catalogue,
            user_ids,
            profiles["gender"].to_numpy(),
        )
        advance("orders")

        session_start = first_event_days(events, len(sessions))
        assignments = build_assignments(
            design, sessions.owner, sessions.anchor_days, session_start, latent_treated, user_ids
        )
        advance("experiment")

        users = profiles.assign(
            id=user_ids,
            created_at=days_to_datetime64(signup_days),
        )
        users_columns: dict[str, object] = dict(users.items())
        users_columns["user_geom"] = format_points(users["longitude"], users["latitude"])
        rows["users"] = write_table(users_columns, USERS, out_dir)
        advance("write users")

        products = catalogue.products
        rows["products"] = write_table(products, PRODUCTS, out_dir)
        centers = catalogue.distribution_centers
        center_columns: dict[str, object] = dict(centers.items())
        center_columns["distribution_center_geom"] = format_points(
            centers["longitude"], centers["latitude"]
        )
        rows["distribution_centers"] = write_table(center_columns, DISTRIBUTION_CENTERS, out_dir)
        advance("write catalogue")

        rows["orders"] = write_table(order_tables.orders, ORDERS, out_dir)
        rows["order_items"] = write_table(order_tables.order_items, ORDER_ITEMS, out_dir)
        rows["inventory_items"] = write_table(
            order_tables.inventory_items, INVENTORY_ITEMS, out_dir
        )
        rows["experiment_assignments"] = write_table(assignments, EXPERIMENT_ASSIGNMENTS, out_dir)
        advance("write orders")

        events_columns = _events_table(
            rng_output, sessions, events, catalogue, user_ids, profiles, places, params
        )
        rows["events"] = write_table(events_columns, EVENTS, out_dir)
        advance("write events")

        signup_order_days = np.full(n_users, np.nan)
        signup_purchase = (events.event_type == EVENT_PURCHASE) & (
            sessions.kind[events.session] == KIND_SIGNUP
        )
        signup_order_days[sessions.owner[events.session[signup_purchase]]] = events.time_days[
            signup_purchase
        ]
        truth_users = pd.DataFrame(
            {
                "user_id": user_ids,
                "signup_days": signup_days,
                "lifetime_days": latent.lifetime_days,
                "session_rate": latent.session_rate,
                "conversion_propensity": latent.propensity,
                "browser": np.asarray(params.browsers)[latent.browser],
                "purchase_rate": latent.purchase_rate,
                "signup_order_days": signup_order_days,
                "order_cap_days": cap_days,
                "loyal": latent.loyal,
                "latent_treated": latent_treated,
            }
        )
        experiment = {
            **design.as_dict(),
            "assigned_users": len(assignments),
            "observed": observed_experiment_lift(sessions, events, design),
        }
        model = {
            "seed": seed,
            "n_users": n_users,
            "data_start": DATA_START.date().isoformat(),
            "end_date": end_date.isoformat(),
            "time_unit": "days since data_start 00:00 UTC",
            "departments": list(DEPARTMENTS),
            **{key: value for key, value in asdict(params).items()},
            "drift": drift.as_dict() if drift is not None else None,
        }
        write_truth(out_dir, truth_users, timeline, experiment, model)
        if campaign is not None:
            rows["campaign_contacts"] = write_table(planted.contacts, CAMPAIGN_CONTACTS, out_dir)
            write_campaign_truth(out_dir, planted)
        write_fingerprint(out_dir, data_fingerprint(rows, events_columns["created_at"]))
        advance("write truth")

    seconds = time.perf_counter() - began
    logger.info(
        "generated %s users (seed %s, end %s) into %s in %.1f s: %s",
        n_users,
        seed,
        end_date,
        out_dir,
        seconds,
        rows,
    )
    return GenerationSummary(
        rows=rows,
        seconds=seconds,
        out_dir=out_dir,
        end_date=end_date,
        seed=seed,
        n_users=n_users,
        experiment_id=design.experiment_id,
    )


def observed_experiment_lift(
    sessions: Sessions, events: Events, design: ExperimentDesign
) -> dict[str, float]:
    """The realised cart -> purchase conversion per arm in the window (sampling noise included)."""
    has_cart = np.zeros(len(sessions), dtype=bool)
    has_cart[events.session[events.event_type == EVENT_CART]] = True
    has_purchase = np.zeros(len(sessions), dtype=bool)
    has_purchase[events.session[events.event_type == EVENT_PURCHASE]] = True
    in_test = design.in_window(sessions.anchor_days) & (sessions.owner >= 0) & has_cart
    result: dict[str, float] = {}
    for arm, treated in (("control", False), ("treatment", True)):
        chosen = in_test & (sessions.treated == treated)
        carts = int(chosen.sum())
        result[f"{arm}_cart_sessions"] = carts
        result[f"{arm}_conversion"] = float(has_purchase[chosen].mean()) if carts else float("nan")
    result["relative_lift"] = result["treatment_conversion"] / result["control_conversion"] - 1.0
    return result


class _progress:
    """A rich progress bar over the stages, or a no-op when disabled (tests, quiet runs)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Progress | None = None

    def __enter__(self) -> Callable[[str], None]:
        if not self.enabled:
            return lambda stage: None
        self.bar = Progress(
            TextColumn("[bold]generate[/] {task.description:<16}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        self.bar.start()
        task = self.bar.add_task("users", total=len(STAGES))

        def advance(stage: str) -> None:
            following = STAGES.index(stage) + 1
            description = STAGES[following] if following < len(STAGES) else "done"
            self.bar.update(task, advance=1, description=description)

        return advance

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.stop()
