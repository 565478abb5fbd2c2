"""The time axis of the generated world: its span, its seasonality, and exact sampling on it.

Time is measured in days (float) since 2019-01-01 00:00 UTC. Shopping intensity varies by hour
of day, day of week and day of year, and is piecewise constant per hour, so its cumulative
integral is piecewise linear and can be inverted exactly. Every process in the generator
(sign-ups, sessions, purchases) is a Poisson process whose rate is a per-user constant times
this intensity; sampling by inverting the cumulative intensity is exact and fully vectorised,
and the oracle in `truth.py` integrates the same curve, so the planted truth and the data agree
to floating-point precision.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

DATA_START = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
SECONDS_PER_DAY = 86_400
HOURS_PER_DAY = 24

# Relative activity by hour of day (UTC) and by weekday (Monday first); normalised below.
HOURLY_PROFILE = np.array(
    [0.45, 0.35, 0.30, 0.28, 0.30, 0.38, 0.55, 0.75, 0.90, 1.00, 1.05, 1.10,
     1.15, 1.12, 1.10, 1.10, 1.15, 1.25, 1.40, 1.55, 1.60, 1.45, 1.10, 0.70]
)  # fmt: skip
WEEKDAY_PROFILE = np.array([0.95, 0.93, 0.95, 0.98, 1.02, 1.08, 1.09])


def yearly_profile(day_of_year: np.ndarray) -> np.ndarray:
    """Winter-holiday high, late-summer low, and a Black-Friday/Cyber-Monday spike in late November."""
    phase = 2 * np.pi * (day_of_year - 350.0) / 365.25
    black_friday = 0.45 * np.exp(-0.5 * ((day_of_year - 331.0) / 4.0) ** 2)
    return 1.0 + 0.18 * np.cos(phase) + black_friday


@dataclass(frozen=True)
class Timeline:
    """The span [DATA_START, end) and the hourly shopping intensity over it.

    `intensity[h]` has mean 1 over the span, so a rate of r per day means r events per day on an
    average day. `cumulative[k]` is the integral of the intensity (in days) up to hour k.
    """

    end_date: dt.date
    intensity: np.ndarray
    cumulative: np.ndarray

    @property
    def span_days(self) -> float:
        return len(self.intensity) / HOURS_PER_DAY

    @property
    def hour_grid(self) -> np.ndarray:
        return np.arange(len(self.cumulative)) / HOURS_PER_DAY

    def integrate(self, start_days: np.ndarray, stop_days: np.ndarray) -> np.ndarray:
        """Integral of the intensity over [start, stop), zero where stop <= start."""
        grid = self.hour_grid
        start = np.clip(start_days, 0.0, self.span_days)
        stop = np.clip(stop_days, 0.0, self.span_days)
        total = np.interp(stop, grid, self.cumulative) - np.interp(start, grid, self.cumulative)
        return np.where(stop > start, total, 0.0)

    def invert(self, cumulative_values: np.ndarray) -> np.ndarray:
        """The time at which the cumulative intensity reaches the given values."""
        return np.interp(cumulative_values, self.cumulative, self.hour_grid)


def build_timeline(end_date: dt.date) -> Timeline:
    """Hourly intensity from 2019-01-01 up to (not including) `end_date` 00:00 UTC."""
    n_days = (end_date - DATA_START.date()).days
    if n_days < 120:
        raise ValueError(
            f"end_date {end_date.isoformat()} is too early: the generated span starts at "
            f"{DATA_START.date().isoformat()} and needs at least 120 days"
        )
    days = np.arange(n_days)
    dates = np.datetime64(DATA_START.date().isoformat(), "D") + days
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64) + 1
    weekday = (days + DATA_START.weekday()) % 7
    daily = yearly_profile(day_of_year.astype(float)) * WEEKDAY_PROFILE[weekday]
    hourly_shape = HOURLY_PROFILE / HOURLY_PROFILE.mean()
    intensity = (daily[:, None] * hourly_shape[None, :]).ravel()
    intensity /= intensity.mean()
    cumulative = np.concatenate([[0.0], np.cumsum(intensity) / HOURS_PER_DAY])
    return Timeline(end_date=end_date, intensity=intensity, cumulative=cumulative)


def sample_poisson_process(
    rng: np.random.Generator,
    timeline: Timeline,
    rates: np.ndarray,
    start_days: np.ndarray,
    stop_days: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Points of independent Poisson processes with intensity rates[i] * intensity(t) on [start_i, stop_i).

    Returns (owner index, time in days), sorted by owner then time. Exact: the count is Poisson
    with the integrated intensity, and given the count the points are the inverse cumulative
    intensity of uniforms.
    """
    lower = np.interp(
        np.clip(start_days, 0, timeline.span_days), timeline.hour_grid, timeline.cumulative
    )
    upper = np.interp(
        np.clip(stop_days, 0, timeline.span_days), timeline.hour_grid, timeline.cumulative
    )
    mass = np.where(upper > lower, upper - lower, 0.0)
    counts = rng.poisson(rates * mass)
    owner = np.repeat(np.arange(len(rates)), counts)
    levels = lower[owner] + rng.random(len(owner)) * mass[owner]
    times = timeline.invert(levels)
    order = np.lexsort((times, owner))
    return owner[order], times[order]


def sample_times_by_weight(
    rng: np.random.Generator, timeline: Timeline, weights_per_hour: np.ndarray, size: int
) -> np.ndarray:
    """`size` times (days) drawn from the density proportional to the given per-hour weights."""
    cumulative = np.concatenate([[0.0], np.cumsum(weights_per_hour)])
    levels = rng.random(size) * cumulative[-1]
    return np.interp(levels, cumulative, np.arange(len(cumulative)) / HOURS_PER_DAY)


def growth_weights(timeline: Timeline, growth: float, stop_days: float) -> np.ndarray:
    """Per-hour weights for arrivals that grow exponentially over the span, zero after stop_days."""
    hours = np.arange(len(timeline.intensity))
    position = hours / len(hours)
    weights = timeline.intensity * np.exp(growth * position)
    weights[hours >= stop_days * HOURS_PER_DAY] = 0.0
    return weights


def days_to_datetime64(days: np.ndarray) -> np.ndarray:
    """Days since DATA_START to datetime64[us], floored to whole seconds as the export shows them."""
    seconds = np.floor(np.asarray(days) * SECONDS_PER_DAY).astype(np.int64)
    base = np.datetime64(DATA_START.replace(tzinfo=None), "s")
    return (base + seconds).astype("datetime64[us]")


def datetime_to_days(values: np.ndarray) -> np.ndarray:
    """datetime64 (naive UTC) to float days since DATA_START."""
    base = np.datetime64(DATA_START.replace(tzinfo=None), "us")
    return (np.asarray(values, dtype="datetime64[us]") - base).astype(np.int64) / (
        SECONDS_PER_DAY * 1e6
    )
