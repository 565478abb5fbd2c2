"""The catalogue: distribution centres, products and how popular each product is."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecom.synth import vocabulary as vocab
from ecom.synth.identifiers import hex_strings

FULL_CATALOGUE_SIZE = 29_120  # TheLook's product count, reached at 100k users
MIN_CATALOGUE_SIZE = 1_000
POPULARITY_EXPONENT = 0.9  # Zipf-like: a few best sellers, a long tail of rarely bought items
DEPARTMENTS = ("Women", "Men")


@dataclass(frozen=True)
class Catalogue:
    products: pd.DataFrame  # TheLook columns plus `department_index` and `popularity`
    distribution_centers: pd.DataFrame
    # Per department: product row positions sorted by popularity and their cumulative weights.
    department_rows: tuple[np.ndarray, ...]
    department_cdf: tuple[np.ndarray, ...]

    def sample_products(self, rng: np.random.Generator, department_index: np.ndarray) -> np.ndarray:
        """Product row positions drawn by popularity within each requested department."""
        result = np.empty(len(department_index), dtype=np.int64)
        for department, (rows, cdf) in enumerate(
            zip(self.department_rows, self.department_cdf, strict=True)
        ):
            wanted = np.flatnonzero(department_index == department)
            picks = np.searchsorted(cdf, rng.random(len(wanted)) * cdf[-1], side="right")
            result[wanted] = rows[np.minimum(picks, len(rows) - 1)]
        return result


def catalogue_size(n_users: int) -> int:
    """Products scale with users up to TheLook's 29,120, so small test worlds stay small."""
    return int(
        np.clip(
            round(FULL_CATALOGUE_SIZE * n_users / 100_000), MIN_CATALOGUE_SIZE, FULL_CATALOGUE_SIZE
        )
    )


def build_distribution_centers() -> pd.DataFrame:
    names, latitudes, longitudes = zip(*vocab.DISTRIBUTION_CENTERS, strict=True)
    return pd.DataFrame(
        {
            "id": np.arange(1, len(names) + 1),
            "name": names,
            "latitude": latitudes,
            "longitude": longitudes,
        }
    )


def build_catalogue(rng: np.random.Generator, n_products: int) -> Catalogue:
    """Products split evenly between departments, priced log-normally around their category median."""
    category_rows = [
        (department_index, department, category, median, noun)
        for department_index, department in enumerate(DEPARTMENTS)
        for category, median, noun in vocab.CATEGORIES[department]
    ]
    table = pd.DataFrame(
        category_rows, columns=["department_index", "department", "category", "median", "noun"]
    )
    department_index = rng.integers(0, len(DEPARTMENTS), n_products)
    # Pick a category within the chosen department uniformly.
    category_of = np.empty(n_products, dtype=np.int64)
    for department in range(len(DEPARTMENTS)):
        candidates = np.flatnonzero(table["department_index"].to_numpy() == department)
        wanted = np.flatnonzero(department_index == department)
        category_of[wanted] = candidates[rng.integers(0, len(candidates), len(wanted))]
    chosen = table.iloc[category_of].reset_index(drop=True)
    retail_price = np.round(
        np.clip(chosen["median"].to_numpy() * rng.lognormal(0.0, 0.55, n_products), 0.5, 999.0), 2
    )
    cost = np.round(retail_price * rng.uniform(0.38, 0.62, n_products), 6)
    brands = np.asarray(vocab.BRANDS, dtype=object)[rng.integers(0, len(vocab.BRANDS), n_products)]
    styles = np.asarray(vocab.STYLE_WORDS, dtype=object)[
        rng.integers(0, len(vocab.STYLE_WORDS), n_products)
    ]
    possessive = np.where(department_index == 0, "Women's", "Men's")
    name = (
        pd.Series(brands)
        + " "
        + pd.Series(possessive)
        + " "
        + pd.Series(styles)
        + " "
        + chosen["noun"]
    ).to_numpy()
    popularity = rng.permutation(np.arange(1, n_products + 1) ** -POPULARITY_EXPONENT)
    products = pd.DataFrame(
        {
            "id": np.arange(1, n_products + 1),
            "cost": cost,
            "category": chosen["category"].to_numpy(),
            "name": name,
            "brand": brands,
            "retail_price": retail_price,
            "department": chosen["department"].to_numpy(),
            "sku": hex_strings(rng, n_products, 16),
            "distribution_center_id": rng.integers(
                1, len(vocab.DISTRIBUTION_CENTERS) + 1, n_products
            ),
            "department_index": department_index,
            "popularity": popularity,
        }
    )
    rows_by_department = []
    cdf_by_department = []
    for department in range(len(DEPARTMENTS)):
        rows = np.flatnonzero(department_index == department)
        rows_by_department.append(rows)
        cdf_by_department.append(np.cumsum(popularity[rows]))
    return Catalogue(
        products=products,
        distribution_centers=build_distribution_centers(),
        department_rows=tuple(rows_by_department),
        department_cdf=tuple(cdf_by_department),
    )
