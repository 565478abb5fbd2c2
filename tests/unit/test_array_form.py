"""The one-hot layout `ecom.churn.array_form` derives from a fitted encoder's public attributes
is the encoder's own: every category lands in the column `transform` puts it in."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import OneHotEncoder

from ecom.churn.array_form import UnsupportedModel, one_hot_columns

FEATURES = ["country", "country_code", "gender"]  # one name a prefix of another


def _rows() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.column_stack(
        [
            rng.choice(["Brasil", "China", "Chile", "Peru"], 500, p=[0.5, 0.46, 0.02, 0.02]),
            rng.choice(["BR", "CN", "unknown"], 500),
            rng.choice(["F", "M", "X"], 500, p=[0.5, 0.49, 0.01]),
        ]
    ).astype(object)


@pytest.mark.parametrize("min_frequency", [None, 20], ids=["all frequent", "infrequent grouped"])
def test_every_category_maps_to_the_column_the_encoder_sets(min_frequency):
    encoder = OneHotEncoder(
        handle_unknown="ignore", min_frequency=min_frequency, sparse_output=False
    )
    encoder.fit(_rows())
    columns, width = one_hot_columns(encoder, FEATURES)
    assert width == len(encoder.get_feature_names_out())
    if min_frequency:
        assert columns[0]["Chile"] == columns[0]["Peru"]  # one infrequent column
        assert columns[2]["X"] == width - 1  # the infrequent column is last in its block
    for index, categories in enumerate(encoder.categories_):
        for category in categories:
            row = np.array([[c[0] for c in encoder.categories_]], dtype=object)
            row[0, index] = category
            want = set(np.flatnonzero(encoder.transform(row)[0]))
            got = {mapping[value] for mapping, value in zip(columns, row[0], strict=True)}
            assert got == want, (FEATURES[index], category)


def test_an_encoder_laid_out_otherwise_is_refused():
    encoder = OneHotEncoder(drop="first", sparse_output=False).fit(_rows())
    with pytest.raises(UnsupportedModel, match="drops a category"):
        one_hot_columns(encoder, FEATURES)
