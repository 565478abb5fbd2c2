"""`ecom generate`: simulate a TheLook-shaped world, write its tables as CSV, then its truth.

Two profiles: "default" (the demo world, with a planted churn process, an A/B test and the
truth a model is graded against) and "thelook" (TheLook's own generator's process, which plants
nothing). The stages run in a fixed order, each with its own random stream spawned from the
seed, so the output is a pure function of (profile, seed, n_users, end_date).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ecom.synth.behaviour import BehaviourParameters, LatentUsers, sample_latent_users
from ecom.synth.calendar import DATA_START, Timeline, build_timeline, days_to_datetime64
from ecom.synth.campaign import (
    CAMPAIGN_PLAN_FILE,
    CAMPAIGN_TRUTH_FILE,
    CampaignPlan,
    PlantedCampaign,
    plant_campaign,
    write_campaign_truth,
)
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
from ecom.synth.thelook_process import simulate_thelook_process
from ecom.synth.truth import TRUTH_DIR, write_truth
from ecom.synth.users import (
    Places,
    account_creation_days,
    build_places,
    sample_locations,
    sample_signup_days,
    sample_user_profiles,
)
from ecom.synth.writer import CSV_FORMATS, write_table
from ecom.thelook import ALL_TABLES, EVENT_TYPES, TABLES_BY_NAME

logger = logging.getLogger(__name__)

PROFILES = ("default", "thelook")
DEFAULT_STAGES = (
    "users",
    "catalogue",
    "sessions",
    "events",
    "orders",
    "experiment",
    "write tables",
    "write truth",
)
THELOOK_STAGES = ("simulate", "write tables", "write truth")
THELOOK_STREAM = 2  # the thelook profile's seed entropy differs from the default profile's


@dataclass(frozen=True)
class GenerationSummary:
    rows: dict[str, int]
    seconds: float
    out_dir: Path
    end_date: dt.date
    seed: int = 0
    n_users: int = 0
    experiment_id: str = ""
    profile: str = "default"


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


@dataclass(frozen=True)
class PlantedTruth:
    """What the default profile knows and a model can only estimate (see `ecom.synth.truth`)."""

    users: pd.DataFrame
    timeline: Timeline
    experiment: dict[str, Any]
    model: dict[str, Any]
    campaign: PlantedCampaign | None = None  # with a planted campaign: `_truth/campaign.*`


@dataclass(frozen=True)
class World:
    """A simulated world: its tables (name -> columns, as `ecom.thelook` names them) and its
    planted truth, which only the default profile has (TheLook's own process plants none)."""

    tables: dict[str, Mapping[str, Any]]
    truth: PlantedTruth | None
    experiment_id: str = ""


def generate_dataset(
    n_users: int,
    seed: int,
    out_dir: Path,
    end_date: dt.date | None = None,
    progress: bool = True,
    params: BehaviourParameters | None = None,
    drift: DriftPlan | None = None,
    profile: str = "default",
    csv_format: str | None = None,
    campaign: CampaignPlan | None = None,
) -> GenerationSummary:
    """Generate N users' TheLook world ending before `end_date` (default today, UTC) into `out_dir`.

    `profile` "default" writes the seven TheLook CSVs, `experiment_assignments.csv` and
    `_truth/`; all timestamps fall in [2019-01-01, end_date 00:00 UTC), so nothing is in the
    future on the end date itself. With `drift`, the last weeks are changed as
    `ecom.synth.drift` describes. `profile` "thelook" runs TheLook's own process
    (`ecom.synth.thelook_process`) with its clock on the day before `end_date`: the seven CSVs
    only, rows up to 11 days past that clock (as the original writes them), no truth.
    `csv_format` ("export" or "thelook", see `ecom.synth.writer`) defaults to BigQuery's export
    for the default profile and to the generator's own format for the thelook profile. With
    `campaign` (default profile only; `ecom generate --campaign`), `campaign_contacts.csv` and its
    truth are planted (`ecom.synth.campaign`); off by default, because the churn oracle does not
    model the campaign's effect on treated users.
    """
    csv_format = _check_arguments(n_users, profile, csv_format, params, drift, campaign)
    end_date = end_date or dt.datetime.now(dt.UTC).date()
    began = time.perf_counter()
    timeline = build_timeline(end_date)  # validates end_date before anything is written
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stages = DEFAULT_STAGES if profile == "default" else THELOOK_STAGES
    with _progress(progress, stages) as advance:
        if profile == "default":
            world = simulate_world(
                n_users, seed, timeline, params or BehaviourParameters(), drift, advance, campaign
            )
        else:
            world = simulate_thelook_world(n_users, seed, end_date)
            advance("simulate")
        rows = write_tables(world.tables, out_dir, csv_format)
        advance("write tables")
        remove_stale_outputs(out_dir, world)
        if world.truth is not None:
            write_truth(
                out_dir,
                world.truth.users,
                world.truth.timeline,
                world.truth.experiment,
                world.truth.model,
            )
            if world.truth.campaign is not None:
                write_campaign_truth(out_dir, world.truth.campaign)
            event_times = np.asarray(world.tables["events"]["created_at"])
            write_fingerprint(out_dir, data_fingerprint(rows, event_times))
        advance("write truth")

    seconds = time.perf_counter() - began
    logger.info(
        "generated %s users (profile %s, seed %s, end %s) into %s in %.1f s: %s",
        n_users,
        profile,
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
        experiment_id=world.experiment_id,
        profile=profile,
    )


def _check_arguments(
    n_users: int,
    profile: str,
    csv_format: str | None,
    params: BehaviourParameters | None,
    drift: DriftPlan | None,
    campaign: CampaignPlan | None = None,
) -> str:
    """Refuse what cannot be generated before anything is written; the CSV format to use."""
    if n_users < 1:
        raise ValueError(f"n_users must be at least 1, got {n_users}")
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is not one of {', '.join(PROFILES)}")
    if profile == "thelook" and (params, drift, campaign) != (None, None, None):
        raise ValueError(
            "the thelook profile is TheLook's own process: behaviour parameters, planted "
            "drift and a planted campaign belong to the default profile"
        )
    csv_format = csv_format or ("thelook" if profile == "thelook" else "export")
    if csv_format not in CSV_FORMATS:
        raise ValueError(f"csv format {csv_format!r} is not one of {', '.join(CSV_FORMATS)}")
    return csv_format


def write_tables(
    tables: Mapping[str, Mapping[str, Any]], out_dir: Path, csv_format: str
) -> dict[str, int]:
    """Write each table to DIR/<name>.csv in `csv_format`; rows written per table."""
    return {
        name: write_table(columns, TABLES_BY_NAME[name], out_dir, csv_format)
        for name, columns in tables.items()
    }


def remove_stale_outputs(out_dir: Path, world: World) -> None:
    """A world without truth or assignments must not leave an earlier run's beside its tables:
    the oracle would grade a model against another world."""
    if world.truth is None:
        shutil.rmtree(out_dir / TRUTH_DIR, ignore_errors=True)
    elif world.truth.campaign is None:
        for name in (CAMPAIGN_TRUTH_FILE, CAMPAIGN_PLAN_FILE):
            (out_dir / TRUTH_DIR / name).unlink(missing_ok=True)
    for table in ALL_TABLES:
        if table.name not in world.tables:
            (out_dir / table.csv_name).unlink(missing_ok=True)


def simulate_thelook_world(n_users: int, seed: int, end_date: dt.date) -> World:
    """TheLook's own process (`ecom.synth.thelook_process`): tables only, no truth."""
    catalogue_stream, process_stream = np.random.SeedSequence(
        [seed, n_users, end_date.toordinal(), THELOOK_STREAM]
    ).spawn(2)
    catalogue = build_catalogue(np.random.default_rng(catalogue_stream), catalogue_size(n_users))
    process = simulate_thelook_process(
        np.random.default_rng(process_stream), n_users, end_date, build_places(), catalogue
    )
    tables: dict[str, Mapping[str, Any]] = {
        "users": process.tables["users"],
        "products": catalogue.products,
        "distribution_centers": catalogue.distribution_centers,
        **{name: process.tables[name] for name in ("orders", "order_items", "inventory_items")},
        "events": process.tables["events"],
    }
    return World(tables=tables, truth=None)


@dataclass(frozen=True)
class _Streams:
    """One random stream per stage, spawned from the seed in this order, so a stage's draws
    never shift another stage's (the field order is the spawn order: do not reorder)."""

    users: np.random.Generator
    latent: np.random.Generator
    catalogue: np.random.Generator
    sessions: np.random.Generator
    events: np.random.Generator
    orders: np.random.Generator
    experiment: np.random.Generator
    output: np.random.Generator
    accounts: np.random.Generator

    @classmethod
    def spawn(cls, seed: int, n_users: int, end_date: dt.date) -> _Streams:
        streams = np.random.SeedSequence([seed, n_users, end_date.toordinal()]).spawn(9)
        return cls(*(np.random.default_rng(stream) for stream in streams))


def _side_stream(seed: int, n_users: int, end_date: dt.date, which: int) -> np.random.Generator:
    """A stream of its own for an optional stage (1 drift, 2 campaign): with it or without it,
    the other stages' streams are seeded the same."""
    return np.random.default_rng([seed, n_users, end_date.toordinal(), which])


@dataclass
class _Population:
    """The users before they act: where they live, when they start, who they are (profiles),
    their latent churn process, and their A/B variant should they reach the test."""

    places: Places
    signup_days: np.ndarray
    profiles: pd.DataFrame
    latent: LatentUsers
    user_ids: np.ndarray
    design: ExperimentDesign
    latent_treated: np.ndarray


def _sample_population(
    streams: _Streams, n_users: int, timeline: Timeline, params: BehaviourParameters
) -> _Population:
    places = build_places()
    return _Population(
        places=places,
        signup_days=sample_signup_days(streams.users, timeline, n_users),
        profiles=sample_user_profiles(streams.users, places, n_users),
        latent=sample_latent_users(streams.latent, n_users, params),
        user_ids=np.arange(1, n_users + 1),
        design=design_experiment(timeline),
        latent_treated=sample_latent_variants(streams.experiment, n_users),
    )


def _world_tables(
    users: pd.DataFrame,
    catalogue: Catalogue,
    order_tables: Any,
    assignments: pd.DataFrame,
    events: Any,
    planted: PlantedCampaign | None,
) -> dict[str, Mapping[str, Any]]:
    """The tables by name, in the order they are written (the campaign's contacts last)."""
    tables: dict[str, Mapping[str, Any]] = {
        "users": users,
        "products": catalogue.products,
        "distribution_centers": catalogue.distribution_centers,
        "orders": order_tables.orders,
        "order_items": order_tables.order_items,
        "inventory_items": order_tables.inventory_items,
        "experiment_assignments": assignments,
        "events": events,
    }
    if planted is not None:
        tables["campaign_contacts"] = planted.contacts
    return tables


def _simulate_sessions(
    streams: _Streams,
    people: _Population,
    timeline: Timeline,
    params: BehaviourParameters,
    key: tuple[int, int, dt.date],
    drift: DriftPlan | None,
    campaign: CampaignPlan | None,
) -> tuple[Sessions, np.ndarray, PlantedCampaign | None]:
    """Registered and anonymous sessions, then the optional drift (which also moves
    `people.profiles`' traffic sources) and campaign, each on a side stream of its own.
    Returns the sessions, each user's order cap day and the planted campaign (or None)."""
    n_users = len(people.user_ids)
    latent, signup_days, design = people.latent, people.signup_days, people.design
    registered = build_registered_sessions(
        streams.sessions, timeline, params, latent, signup_days, design, people.latent_treated
    )
    cap_days = order_cap_days(registered, n_users, params.max_orders_per_user)
    anonymous = build_anonymous_sessions(streams.sessions, timeline, params, n_users)
    sessions = concatenate_sessions(registered, anonymous)
    if drift is not None:
        rng_drift = _side_stream(*key, 1)
        drift_sessions(rng_drift, sessions, timeline.span_days, drift)
        people.profiles = drift_user_sources(
            rng_drift, people.profiles, signup_days, timeline.span_days, drift
        )
    if campaign is None:
        return sessions, cap_days, None
    planted = plant_campaign(
        _side_stream(*key, 2),
        sessions,
        latent,
        signup_days,
        cap_days,
        timeline,
        design,
        params,
        people.latent_treated,
        people.user_ids,
        campaign,
    )
    return planted.sessions, planted.order_cap_days, planted


def simulate_world(
    n_users: int,
    seed: int,
    timeline: Timeline,
    params: BehaviourParameters,
    drift: DriftPlan | None,
    advance: Callable[[str], None],
    campaign: CampaignPlan | None = None,
) -> World:
    """The default profile: latent users, sessions, events, orders and the A/B test, with truth;
    with `campaign`, the randomized retention campaign too (its contacts table and truth)."""
    end_date = timeline.end_date
    streams = _Streams.spawn(seed, n_users, end_date)
    people = _sample_population(streams, n_users, timeline, params)
    latent, signup_days, design = people.latent, people.signup_days, people.design
    advance("users")

    catalogue = build_catalogue(streams.catalogue, catalogue_size(n_users))
    advance("catalogue")

    sessions, cap_days, planted = _simulate_sessions(
        streams, people, timeline, params, (seed, n_users, end_date), drift, campaign
    )
    advance("sessions")

    genders = people.profiles["gender"].to_numpy()
    layout = layout_sessions(streams.events, sessions, catalogue, genders == "M")
    events = expand_events(streams.events, sessions, layout, catalogue)
    advance("events")

    order_tables = build_order_tables(
        streams.orders, timeline, sessions, layout, events, catalogue, people.user_ids, genders
    )
    advance("orders")

    session_start = first_event_days(events, len(sessions))
    assignments = build_assignments(
        design,
        sessions.owner,
        sessions.anchor_days,
        session_start,
        people.latent_treated,
        people.user_ids,
    )
    advance("experiment")

    # The account is older than the shopping life that starts at `signup_days` (its first
    # session), by as much as TheLook's process puts between sign-up and first order.
    orders_per_user = np.bincount(order_tables.order_owner, minlength=n_users)
    created_days = account_creation_days(streams.accounts, signup_days, orders_per_user)
    users = people.profiles.assign(id=people.user_ids, created_at=days_to_datetime64(created_days))
    events_table = _events_table(
        streams.output,
        sessions,
        events,
        catalogue,
        people.user_ids,
        people.profiles,
        people.places,
        params,
    )
    truth = PlantedTruth(
        users=_truth_users(
            sessions, events, latent, params, signup_days, cap_days, people.latent_treated
        ).assign(account_created_days=created_days),
        timeline=timeline,
        experiment={
            **design.as_dict(),
            "assigned_users": len(assignments),
            "observed": observed_experiment_lift(sessions, events, design),
        },
        model=_model_description(seed, n_users, end_date, params, drift),
        campaign=planted,
    )
    tables = _world_tables(users, catalogue, order_tables, assignments, events_table, planted)
    return World(tables=tables, truth=truth, experiment_id=design.experiment_id)


def _model_description(
    seed: int,
    n_users: int,
    end_date: dt.date,
    params: BehaviourParameters,
    drift: DriftPlan | None,
) -> dict[str, Any]:
    """`_truth/model.json`: what the world was generated with, every behaviour parameter."""
    return {
        "seed": seed,
        "n_users": n_users,
        "data_start": DATA_START.date().isoformat(),
        "end_date": end_date.isoformat(),
        "time_unit": "days since data_start 00:00 UTC",
        "departments": list(DEPARTMENTS),
        **asdict(params),
        "drift": drift.as_dict() if drift is not None else None,
    }


def _truth_users(
    sessions: Sessions,
    events: Events,
    latent: LatentUsers,
    params: BehaviourParameters,
    signup_days: np.ndarray,
    cap_days: np.ndarray,
    latent_treated: np.ndarray,
) -> pd.DataFrame:
    """Per user the latent state the oracle integrates (`_truth/users.parquet`)."""
    n_users = len(signup_days)
    signup_order_days = np.full(n_users, np.nan)
    signup_purchase = (events.event_type == EVENT_PURCHASE) & (
        sessions.kind[events.session] == KIND_SIGNUP
    )
    signup_order_days[sessions.owner[events.session[signup_purchase]]] = events.time_days[
        signup_purchase
    ]
    return pd.DataFrame(
        {
            "user_id": np.arange(1, n_users + 1),
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

    def __init__(self, enabled: bool, stages: tuple[str, ...]) -> None:
        self.enabled = enabled
        self.stages = stages
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
        stages = self.stages
        task = self.bar.add_task(stages[0], total=len(stages))

        def advance(stage: str) -> None:
            following = stages.index(stage) + 1
            description = stages[following] if following < len(stages) else "done"
            self.bar.update(task, advance=1, description=description)

        return advance

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.stop()
