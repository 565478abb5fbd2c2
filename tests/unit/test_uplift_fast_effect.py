"""The uplift fast path gives econml's own effect, for each learner kind, or is refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ecom.targeting.fast_effect import BOOSTERS, ECONML, EFFECT_TOLERANCE, FastEffect
from ecom.targeting.models import CANDIDATES, FeatureEncoding, fit_uplift_model


def _campaign(users: int = 600, seed: int = 3) -> pd.DataFrame:
    """A small randomized campaign whose contact helps recent buyers with missing values and
    an unseen category mixed in, so the missing routes are exercised."""
    rng = np.random.default_rng(seed)
    recency = rng.exponential(60.0, users)
    recency[rng.random(users) < 0.1] = np.nan
    orders = rng.poisson(3, users).astype(float)
    channel = rng.choice(["Search", "Email", "Organic"], users).astype(object)
    channel[rng.random(users) < 0.1] = None
    treated = rng.random(users) < 0.5
    effect = np.where(np.nan_to_num(recency, nan=200.0) < 60, 0.25, 0.0)
    base = 0.2 + 0.03 * orders
    converted = rng.random(users) < np.clip(base + treated * effect, 0, 1)
    return pd.DataFrame(
        {
            "recency_days": recency,
            "orders": orders,
            "traffic_source": channel,
            "is_treated": treated.astype(int),
            "converted": converted.astype(int),
            "treatment_share": 0.5,
        }
    )


@pytest.fixture(scope="module")
def campaign() -> pd.DataFrame:
    return _campaign()


@pytest.mark.parametrize("learner", CANDIDATES)
def test_fast_effect_equals_econml_effect(campaign: pd.DataFrame, learner: str) -> None:
    encoding = FeatureEncoding.fit(campaign, ["recency_days", "orders"], ["traffic_source"])
    model = fit_uplift_model(learner, campaign, encoding)
    fast = FastEffect(model, campaign.head(50))
    assert fast.engine == BOOSTERS, fast.failures
    boosters = [fast.form.final, fast.form.propensity, fast.form.cate_controls]
    assert all(b.compiled is not None for b in boosters if b is not None)  # depth <= 3: tables
    fresh = _campaign(200, seed=9)
    fresh.loc[0, "traffic_source"] = "a source never seen in training"
    want = model.effect(fresh)
    assert np.abs(want).max() > 0  # a learner that learned nothing would prove nothing
    assert np.abs(fast.effect(fresh) - want).max() <= EFFECT_TOLERANCE
    # One row as the online read gives it: plain lists, no frame.
    row = {name: [fresh[name].iloc[1]] for name in fresh.columns}
    assert fast.effect(row) == pytest.approx(want[1:2], abs=EFFECT_TOLERANCE)


@pytest.mark.parametrize("learner", CANDIDATES)
def test_a_tampered_form_is_refused(
    campaign: pd.DataFrame, learner: str, caplog: pytest.LogCaptureFixture
) -> None:
    encoding = FeatureEncoding.fit(campaign, ["recency_days", "orders"], ["traffic_source"])
    model = fit_uplift_model(learner, campaign, encoding)
    fast = FastEffect(model, campaign.head(50))
    assert fast.engine == BOOSTERS
    # Shift the final model's tables, or swap which CATE model stands where: the form no
    # longer is the learner.
    form = fast.form
    if form.final is not None:
        tables = form.final.compiled
        shifted = dataclasses.replace(tables, base_margin=tables.base_margin + np.float32(1e-3))
        fast.form = dataclasses.replace(
            form, final=dataclasses.replace(form.final, compiled=shifted)
        )
    else:
        fast.form = dataclasses.replace(
            form, cate_controls=form.cate_treated, cate_treated=form.cate_controls
        )
    with caplog.at_level("WARNING"):
        assert not fast.verify(campaign.head(50))
    assert fast.engine == ECONML
    assert "serving with econml" in caplog.text and "effect off by" in caplog.text
    assert np.array_equal(fast.effect(campaign), model.effect(campaign))


def test_a_learner_without_a_form_serves_through_econml(
    campaign: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    encoding = FeatureEncoding.fit(campaign, ["recency_days", "orders"], ["traffic_source"])
    model = fit_uplift_model("x_learner", campaign, encoding)
    model.learner_name = "s_learner"
    with caplog.at_level("WARNING"):
        fast = FastEffect(model, campaign.head(20))
    assert fast.engine == ECONML and "no array form" in caplog.text
    assert np.array_equal(fast.effect(campaign), model.effect(campaign))
