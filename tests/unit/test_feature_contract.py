"""The feature contract is sound, and the Feast repo, the dbt docs and the generator's
calibration follow it (the dbt marts' real columns: tests/integration/test_feature_contract_marts.py).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ecom.features import contract
from ecom.synth import calibration
from ecom.synth.calendar import datetime_to_days

ROOT = Path(__file__).resolve().parents[2]
FEATURE_REPO = ROOT / "feature_repo"
VIEW_NAMES = {
    contract.Group.RFM: "user_rfm",
    contract.Group.ENGAGEMENT: "user_engagement",
    contract.Group.CONVERSION: "user_conversion",
    contract.Group.PROFILE: "user_profile",
}


@pytest.fixture(scope="module")
def feast_repo():
    """The repo's objects exactly as `feast plan/apply` collects them: Feast's own parser, run
    from inside the repo with the repo on sys.path (its files import each other by bare name)."""
    from feast.repo_operations import parse_repo

    repo_modules = [path.stem for path in FEATURE_REPO.glob("*.py")]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(FEATURE_REPO)
        patch.syspath_prepend(str(FEATURE_REPO))
        for name in repo_modules:
            patch.delitem(sys.modules, name, raising=False)
        yield parse_repo(FEATURE_REPO)
        for name in repo_modules:
            sys.modules.pop(name, None)


def test_every_column_is_named_once_and_every_group_has_features():
    names = [column.name for column in contract.KEY_COLUMNS] + list(contract.FEATURE_NAMES)
    assert [name for name, count in Counter(names).items() if count > 1] == []
    assert tuple(names) == contract.MART_COLUMNS
    assert all(contract.features_in(group) for group in contract.Group)
    assert all(feature.description.strip() for feature in contract.FEATURES)


def test_a_feature_needs_a_feast_type_and_a_model_kind():
    with pytest.raises(ValueError, match="feature signup_day: type 'date'"):
        contract.Feature("signup_day", contract.DATE, contract.Group.PROFILE, "Day of sign-up.")


def test_a_misspelt_feature_row_fails_naming_the_row():
    table = """
    recency_days  float  rfm  non-negative  nullable
        Days since the last order.
    frequency_orders  int  rfm  count  not-null
        Orders in the window.
    """
    with pytest.raises(ValueError, match=r"row 'frequency_orders  int .*KeyError\('int'\)"):
        contract.parse_features(table)
    (parsed,) = contract.parse_features(table.split("    frequency_orders")[0])
    assert (parsed.name, parsed.type, parsed.domain, parsed.nullable) == (
        "recency_days",
        contract.FLOAT,
        contract.NON_NEGATIVE,
        True,
    )
    assert parsed.description == "Days since the last order."


def test_an_unknown_group_is_refused():
    with pytest.raises(ValueError, match="'loyalty' is not a valid Group"):
        contract.features_in("loyalty")


def test_feast_views_are_the_contract_groups(feast_repo):
    views = {view.name: view for view in feast_repo.feature_views}
    join_keys = {entity.name: entity.join_key for entity in feast_repo.entities}
    assert set(views) == set(VIEW_NAMES.values())
    for group, view_name in VIEW_NAMES.items():
        view = views[view_name]
        assert view.tags["group"] == group
        assert [join_keys[name] for name in view.entities] == [contract.KEY_COLUMNS[0].name]
        fields = [(field.name, str(field.dtype), field.description) for field in view.features]
        expected = [
            (feature.name, feature.type.feast, feature.description)
            for feature in contract.features_in(group)
        ]
        assert fields == expected, f"Feast view {view_name} differs from the contract"


def test_feast_views_cover_every_feature_once(feast_repo):
    served = [field.name for view in feast_repo.feature_views for field in view.features]
    assert sorted(served) == sorted(contract.FEATURE_NAMES)


def test_the_feature_service_serves_the_groups_in_order(feast_repo):
    (service,) = feast_repo.feature_services
    assert service.name == contract.FEATURE_SERVICE
    assert [projection.name for projection in service.feature_view_projections] == [
        VIEW_NAMES[group] for group in contract.Group
    ]
    served = [
        field.name
        for projection in service.feature_view_projections
        for field in projection.features
    ]
    assert served == [
        feature.name for group in contract.Group for feature in contract.features_in(group)
    ]


@pytest.mark.parametrize("mart", contract.FEATURE_MARTS)
def test_dbt_docs_list_the_contract_columns_in_order(mart):
    document = yaml.safe_load((ROOT / "dbt" / "models" / "marts" / f"{mart}.yml").read_text())
    (model,) = document["models"]
    assert [column["name"] for column in model["columns"]] == list(contract.MART_COLUMNS)


def test_calibration_computes_every_contract_feature_with_its_kind():
    """The generator's calibration model reads the contract's lists, so it must compute them."""
    observed = calibration.load_observed(ROOT / "tests" / "fixtures" / "thelook_tiny")
    cutoff = datetime_to_days(np.array(["2024-01-22"], dtype="datetime64[us]"))[0]
    frame = calibration.features_at_cutoff(observed, cutoff)
    assert [name for name in contract.FEATURE_NAMES if name not in frame.columns] == []
    assert len(frame) == 4  # the fixture's users 1-4 were active in the 60 days before 01-22
    for name in calibration.NUMERIC_FEATURES:
        assert pd.api.types.is_numeric_dtype(frame[name]), name
    for name in calibration.CATEGORICAL_FEATURES:
        assert frame[name].dtype == object, name
