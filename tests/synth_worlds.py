"""Generated TheLook worlds for test modules: one per module, in pytest's temporary folders."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ecom.synth import generate_dataset


def generated_world(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    users: int,
    seed: int,
    end_date: dt.date,
    **options: object,
) -> Path:
    """A fresh folder named after `name` holding `users` generated users ending before
    `end_date`; `options` are `generate_dataset`'s (a campaign, a profile, drift)."""
    out = tmp_path_factory.mktemp(name)
    generate_dataset(users, seed, out, end_date, progress=False, **options)
    return out
