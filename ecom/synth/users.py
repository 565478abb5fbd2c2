"""Registered users: sign-up times that grow over the years, and TheLook-style profiles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecom.synth import vocabulary as vocab
from ecom.synth.calendar import Timeline, growth_weights, sample_times_by_weight
from ecom.thelook import TRAFFIC_SOURCES_USERS

# Sign-ups per day grow x1.56 a year (TheLook's orders grow ~x5.9 from 2020 to 2024, and with
# short lifetimes orders follow sign-ups).
SIGNUP_GROWTH_PER_YEAR = 1.56
USER_SOURCE_SHARES = (0.70, 0.15, 0.06, 0.05, 0.04)  # Search, Organic, Facebook, Email, Display
MISSING_CITY_SHARE = 0.01  # the public export writes a few cities as the string 'null'


@dataclass(frozen=True)
class Places:
    """The flattened city table: one row per city, with its country."""

    table: pd.DataFrame  # country, city, state, latitude, longitude, postal_pattern, weight


def build_places() -> Places:
    rows = []
    for country in vocab.COUNTRIES:
        city_weights = np.linspace(1.6, 0.6, len(country.cities))
        city_weights = city_weights / city_weights.sum()
        for city, weight in zip(country.cities, city_weights, strict=True):
            rows.append(
                {
                    "country": country.name,
                    "city": city.name,
                    "state": city.state,
                    "latitude": city.latitude,
                    "longitude": city.longitude,
                    "postal_pattern": city.postal_pattern,
                    "weight": country.share * weight,
                }
            )
    table = pd.DataFrame(rows)
    table["weight"] /= table["weight"].sum()
    return Places(table)


def fill_patterns(rng: np.random.Generator, patterns: np.ndarray) -> np.ndarray:
    """Replace '#' by random digits and '@' by random capitals, vectorised over equal-length groups."""
    result = np.empty(len(patterns), dtype=object)
    series = pd.Series(patterns)
    for pattern, index in series.groupby(series).groups.items():
        template = np.frombuffer(pattern.encode("ascii"), dtype=np.uint8)
        chars = np.tile(template, (len(index), 1))
        digits = template == ord("#")
        letters = template == ord("@")
        chars[:, digits] = rng.integers(ord("0"), ord("9") + 1, (len(index), digits.sum()))
        chars[:, letters] = rng.integers(ord("A"), ord("Z") + 1, (len(index), letters.sum()))
        result[np.asarray(index)] = chars.view(f"S{len(template)}").ravel().astype(str)
    return result


def sample_locations(rng: np.random.Generator, places: Places, size: int) -> pd.DataFrame:
    """City, state, country, postal code and jittered coordinates for `size` people or sessions."""
    table = places.table
    city_index = rng.choice(len(table), size, p=table["weight"].to_numpy())
    chosen = table.iloc[city_index].reset_index(drop=True)
    return pd.DataFrame(
        {
            "country": chosen["country"].to_numpy(),
            "city": chosen["city"].to_numpy(),
            "state": chosen["state"].to_numpy(),
            "postal_code": fill_patterns(rng, chosen["postal_pattern"].to_numpy()),
            "latitude": np.round(chosen["latitude"].to_numpy() + rng.normal(0, 0.08, size), 6),
            "longitude": np.round(chosen["longitude"].to_numpy() + rng.normal(0, 0.08, size), 6),
        }
    )


def signup_growth(timeline: Timeline) -> float:
    """Log growth of the sign-up rate over the whole span (`growth_weights`' argument)."""
    return float(np.log(SIGNUP_GROWTH_PER_YEAR) * timeline.span_days / 365.25)


def sample_signup_days(rng: np.random.Generator, timeline: Timeline, n_users: int) -> np.ndarray:
    """Sign-up times (days), growing over time and seasonal; sorted so user ids follow sign-up order.

    Sign-ups stop two hours before the end so every sign-up session ends inside the span.
    """
    weights = growth_weights(timeline, signup_growth(timeline), timeline.span_days - 2.0 / 24.0)
    return np.sort(sample_times_by_weight(rng, timeline, weights, n_users))


def sample_user_profiles(rng: np.random.Generator, places: Places, n_users: int) -> pd.DataFrame:
    """Names, e-mail, age, gender, address and acquisition source, in TheLook's columns.

    `location_city` keeps the real city where `city` was blanked to 'null', for session locations.
    """
    gender = np.where(rng.random(n_users) < 0.5, "F", "M")
    female_first = np.asarray(vocab.FIRST_NAMES_FEMALE, dtype=object)
    male_first = np.asarray(vocab.FIRST_NAMES_MALE, dtype=object)
    first_name = np.where(
        gender == "F",
        female_first[rng.integers(0, len(female_first), n_users)],
        male_first[rng.integers(0, len(male_first), n_users)],
    )
    last_name = np.asarray(vocab.LAST_NAMES, dtype=object)[
        rng.integers(0, len(vocab.LAST_NAMES), n_users)
    ]
    domain = np.asarray(vocab.EMAIL_DOMAINS, dtype=object)[
        rng.integers(0, len(vocab.EMAIL_DOMAINS), n_users)
    ]
    email = (
        pd.Series(first_name).str.lower()
        + pd.Series(last_name).str.lower().str.replace(r"[^a-z]", "", regex=True)
        + "@"
        + pd.Series(domain)
    ).to_numpy()
    street = (
        pd.Series(rng.integers(1, 9999, n_users)).astype(str)
        + " "
        + pd.Series(
            np.asarray(vocab.STREET_NAMES, dtype=object)[
                rng.integers(0, len(vocab.STREET_NAMES), n_users)
            ]
        )
        + " "
        + pd.Series(
            np.asarray(vocab.STREET_SUFFIXES, dtype=object)[
                rng.integers(0, len(vocab.STREET_SUFFIXES), n_users)
            ]
        )
    ).to_numpy()
    location = sample_locations(rng, places, n_users)
    city = location["city"].to_numpy().astype(object)
    city[rng.random(n_users) < MISSING_CITY_SHARE] = "null"
    source = np.asarray(TRAFFIC_SOURCES_USERS, dtype=object)[
        rng.choice(len(TRAFFIC_SOURCES_USERS), n_users, p=np.asarray(USER_SOURCE_SHARES))
    ]
    return pd.DataFrame(
        {
            "first_name": first_name,
            "last_name": last_name,
            "email": email,
            "age": rng.integers(12, 71, n_users),
            "gender": gender,
            "state": location["state"].to_numpy(),
            "street_address": street,
            "postal_code": location["postal_code"].to_numpy(),
            "city": city,
            "location_city": location["city"].to_numpy(),
            "country": location["country"].to_numpy(),
            "latitude": location["latitude"].to_numpy(),
            "longitude": location["longitude"].to_numpy(),
            "traffic_source": source,
        }
    )


# A share of users registers within days of their first visit; the rest long before it. The
# share is tuned so the days from sign-up to first order have TheLook's 10th percentile (its
# final-week sign-up burst puts as many short gaps there); see `account_creation_days`.
QUICK_REGISTRATION_SHARE = 0.045
QUICK_REGISTRATION_DAYS = 6.0
# The clock distance that stands in for TheLook's T - f (see `account_creation_days`): tuned
# with the quick share so the days from sign-up to first order have TheLook's p10 / p50 / p90.
ACCOUNT_HORIZON_DAYS = 470.0


def account_creation_days(
    rng: np.random.Generator,
    first_session_days: np.ndarray,
    orders_per_user: np.ndarray,
) -> np.ndarray:
    """When each account was created, given its first session and its number of orders.

    In TheLook's process an account is created at a uniform time s in [0, T) and its k orders
    fall uniformly in (s, T), so the first order f comes months or years after sign-up (days
    p10 / p50 / p90 = 30 / 401 / 1,498): given f and k, s has density proportional to
    (T - s)^-k on [0, f]. Drawn with the real clock T, that density depends on how close f is
    to the end of the data: users first seen in the data's last weeks get accounts days old,
    those first seen a year earlier accounts years old. In a world with a planted shopping life
    that is an end effect no customer made (the last weeks' new users look young, and the
    drift check rightly saw tenure and the established-user mix move at every recent cutoff).
    So the clock is replaced by f + `ACCOUNT_HORIZON_DAYS`: the gap g = f - s has density
    proportional to (H + g)^-k on [0, f], the same at every date (only the data's start cuts
    it), and H is tuned so the gaps keep TheLook's quantiles. Drawn by inverse CDF, vectorised;
    users without orders count as k = 1. The account never comes after the first session.
    """
    n = len(first_session_days)
    first = np.asarray(first_session_days, dtype=float)
    total = first + ACCOUNT_HORIZON_DAYS
    k = np.maximum(orders_per_user, 1).astype(float)
    uniforms = rng.random(n)
    single = k == 1
    exponent = np.where(single, -1.0, 1.0 - k)  # unused where single
    inner = total**exponent + uniforms * ((total - first) ** exponent - total**exponent)
    several = total - inner ** (1.0 / exponent)
    one = total * (1.0 - ((total - first) / total) ** uniforms)
    created = np.where(single, one, several)
    quick = rng.random(n) < QUICK_REGISTRATION_SHARE
    recent = first - rng.random(n) * np.minimum(first, QUICK_REGISTRATION_DAYS)
    return np.clip(np.where(quick, recent, created), 0.0, first_session_days)
