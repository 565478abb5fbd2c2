"""A shallow XGBoost model compiled to lookup tables: one row predicted and explained in tens
of microseconds instead of half a millisecond.

For one row, XGBoost's own calls cost more than the trees: a `DMatrix`, each `predict`'s
configuration, and exact TreeSHAP's allocations per tree come to about 0.45 ms for the
champion (412 trees of depth 3), more than everything else a `/predict` does. Two facts make a
table cheaper and exact:

- a tree's output for a row depends only on which child each of its internal nodes sends the
  row to, and so do XGBoost's path-dependent TreeSHAP values (the algorithm follows the row's
  "hot" child at every node, on the path or off it). A depth-3 tree has 7 internal nodes, so
  at most 128 decision patterns, and each pattern's leaf value and SHAP vector can be asked of
  XGBoost itself, once, on a row built to take exactly those decisions;
- XGBoost compares a value, cast to float32, with the node's float32 threshold (`x < split`
  goes left, a missing value follows the node's default), and adds leaf values in float32 in
  tree order onto the base margin. Replaying that gives XGBoost's margin bit for bit.

So a prediction is: gather the row's value at every node of every tree, compare, weigh the
decisions into one pattern number per tree, and add up table rows. Deeper trees would need
2^(2^d - 1) patterns per tree, so `compile_booster` answers None for them (and for anything
but single-output gbtree models), and the caller keeps XGBoost's own path.

Besides `binary:logistic` (the churn champion, the uplift propensity model), `reg:squarederror`
compiles too: its output is the margin itself (the uplift learners' outcome and CATE models).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import numpy as np
import xgboost as xgb

MAX_DEPTH = 3
SLOTS = 2**MAX_DEPTH - 1  # internal nodes of a complete tree, in heap order (children 2i+1, 2i+2)
PATTERNS = 2**SLOTS
LOGISTIC, SQUARED_ERROR = "binary:logistic", "reg:squarederror"


@dataclass(frozen=True)
class CompiledTrees:
    """Per tree and slot: the feature compared, the threshold, the default direction; per tree
    and decision pattern: the leaf value and the SHAP contributions (grouped by `groups`)."""

    features: np.ndarray  # (trees, SLOTS) int64
    thresholds: np.ndarray  # (trees, SLOTS) float32
    default_left: np.ndarray  # (trees, SLOTS) bool
    passing: np.ndarray  # (trees, SLOTS) bool: a slot under an early leaf sends every row left
    leaves: np.ndarray  # (trees, PATTERNS) float32
    contributions: np.ndarray  # (trees, PATTERNS, groups) float64
    base_margin: np.float32
    objective: str = LOGISTIC

    def patterns(self, rows: np.ndarray) -> np.ndarray:
        """Each row's decision pattern in every tree, (rows, trees)."""
        values = np.asarray(rows, dtype=np.float32)[:, self.features]
        left = np.where(np.isnan(values), self.default_left, values < self.thresholds)
        left |= self.passing
        return left.astype(np.int64) @ (1 << np.arange(SLOTS, dtype=np.int64))

    def margins(self, patterns: np.ndarray) -> np.ndarray:
        """XGBoost's float32 margin: the base, then each tree's leaf added in tree order."""
        trees = np.arange(len(self.leaves))
        leaves = self.leaves[trees, patterns]
        start = np.full((len(patterns), 1), self.base_margin, dtype=np.float32)
        return np.cumsum(np.hstack([start, leaves]), axis=1, dtype=np.float32)[:, -1]

    def probabilities(self, patterns: np.ndarray) -> np.ndarray:
        """XGBoost's `binary:logistic` output, its float32 sigmoid included."""
        margins = self.margins(patterns)
        # expf correctly rounded (float64, then to float32), as glibc's is to within 0.5 ulp
        exponent = np.exp(np.minimum(-margins, np.float32(88.7)).astype(np.float64))
        return np.float32(1.0) / (exponent.astype(np.float32) + np.float32(1.0))

    def outputs(self, patterns: np.ndarray) -> np.ndarray:
        """What the booster's `predict` gives: the probability, or a regressor's margin."""
        if self.objective == LOGISTIC:
            return self.probabilities(patterns)
        return self.margins(patterns)

    def contributions_of(self, patterns: np.ndarray) -> np.ndarray:
        """Each row's SHAP contributions by group (the bias left out), (rows, groups)."""
        trees = np.arange(len(self.leaves))
        return self.contributions[trees, patterns].sum(axis=1)


@dataclass
class _Tree:
    features: np.ndarray
    thresholds: np.ndarray
    default_left: np.ndarray
    bottom: np.ndarray  # the leaf value at each of the 2^MAX_DEPTH bottom positions
    real: list[int]  # slots that are real splits (the others, under an early leaf, pass
    # every row left; both their children carry that leaf's value)


def _layout(tree: dict) -> _Tree | None:
    """XGBoost's JSON tree in heap slots, or None when it is deeper than MAX_DEPTH."""
    left, right = tree["left_children"], tree["right_children"]
    features = np.zeros(SLOTS, dtype=np.int64)
    thresholds = np.zeros(SLOTS, dtype=np.float32)
    default_left = np.ones(SLOTS, dtype=bool)
    bottom = np.zeros(2**MAX_DEPTH, dtype=np.float32)
    real: list[int] = []

    def place(node: int, slot: int, depth: int) -> bool:
        if left[node] == -1:  # a leaf: it fills every bottom position under its slot
            width = 2 ** (MAX_DEPTH - depth)
            first = (slot + 1) * width - 2**MAX_DEPTH
            bottom[first : first + width] = np.float32(tree["split_conditions"][node])
            return True
        if depth == MAX_DEPTH:
            return False
        features[slot] = tree["split_indices"][node]
        thresholds[slot] = np.float32(tree["split_conditions"][node])
        default_left[slot] = bool(tree["default_left"][node])
        real.append(slot)
        return place(left[node], 2 * slot + 1, depth + 1) and place(
            right[node], 2 * slot + 2, depth + 1
        )

    if any(tree.get("split_type", [])) or not place(0, 0, 0):
        return None
    return _Tree(features, thresholds, default_left, bottom, sorted(real))


def _leaf_of(pattern: int) -> int:
    """The bottom position a pattern leads to (bit i set: slot i sent the row left)."""
    slot = 0
    while slot < SLOTS:
        slot = 2 * slot + 1 if pattern >> slot & 1 else 2 * slot + 2
    return slot - SLOTS


def _witnesses(tree: _Tree, width: int) -> tuple[list[int], np.ndarray]:
    """One row per decision pattern the tree can produce, built to take those decisions.

    Per feature, the candidate values are NaN and one value in each interval between the
    feature's thresholds in this tree: every combination of decisions a real value can make is
    among them, so every pattern a row can produce gets its witness."""
    by_feature: dict[int, list[int]] = {}
    for slot in tree.real:
        by_feature.setdefault(int(tree.features[slot]), []).append(slot)
    choices = []
    for feature, slots in by_feature.items():
        cuts = np.unique(tree.thresholds[slots])
        values = [np.float32(np.nan), np.nextafter(cuts[0], np.float32(-np.inf)), *cuts]
        options = []
        for value in values:
            goes_left = [
                bool(tree.default_left[s]) if np.isnan(value) else bool(value < tree.thresholds[s])
                for s in slots
            ]
            options.append((value, sum(1 << s for s, g in zip(slots, goes_left, strict=True) if g)))
        choices.append([(feature, value, bits) for value, bits in options])
    passing = sum(1 << s for s in range(SLOTS) if s not in tree.real)
    found: dict[int, np.ndarray] = {}
    for combination in itertools.product(*choices):
        pattern = passing | sum(bits for _, _, bits in combination)
        if pattern not in found:
            row = np.zeros(width, dtype=np.float32)
            for feature, value, _ in combination:
                row[feature] = value
            found[pattern] = row
    patterns = sorted(found)
    return patterns, np.vstack([found[p] for p in patterns])


def compile_booster(
    booster: xgb.Booster, iterations: tuple[int, int], groups: np.ndarray
) -> CompiledTrees | None:
    """Tables for `booster`'s trees in `iterations` ((0, 0): all), contributions summed by
    `groups` (encoded columns x groups, 0/1); None when the model is not a shallow,
    single-output gbtree (the caller then uses XGBoost itself)."""
    model = json.loads(booster.save_raw("json"))["learner"]
    booster_model = model["gradient_booster"]
    objective = model["objective"]["name"]
    if booster_model.get("name") != "gbtree" or objective not in (LOGISTIC, SQUARED_ERROR):
        return None
    trees_json = booster_model["model"]["trees"]
    if int(booster_model["model"]["gbtree_model_param"]["num_parallel_tree"]) != 1:
        return None
    begin, end = iterations
    trees_json = trees_json[begin : end or len(trees_json)]
    layouts = [_layout(tree) for tree in trees_json]
    if not layouts or any(layout is None for layout in layouts):
        return None
    width = groups.shape[0]
    leaves = np.zeros((len(layouts), PATTERNS), dtype=np.float32)
    contributions = np.zeros((len(layouts), PATTERNS, groups.shape[1]))
    values, margins = [], []
    for index, tree in enumerate(layouts):
        patterns, rows = _witnesses(tree, width)
        matrix = xgb.DMatrix(rows, nthread=1)
        single = booster[begin + index : begin + index + 1]  # contributions need a slice
        single.set_param({"nthread": 1})
        shap = single.predict(matrix, pred_contribs=True)
        margins.append(single.predict(matrix, output_margin=True))
        values.append(tree.bottom[[_leaf_of(p) for p in patterns]])
        leaves[index, patterns] = values[-1]
        contributions[index, patterns] = shap[:, :-1].astype(np.float64) @ groups
    base = _base_margin(np.concatenate(values), np.concatenate(margins))
    if base is None:
        return None  # not the arithmetic this module replays: keep XGBoost's own path
    return CompiledTrees(
        features=np.vstack([t.features for t in layouts]),
        thresholds=np.vstack([t.thresholds for t in layouts]),
        default_left=np.vstack([t.default_left for t in layouts]),
        passing=np.vstack([np.isin(np.arange(SLOTS), t.real, invert=True) for t in layouts]),
        leaves=leaves,
        contributions=contributions,
        base_margin=base,
        objective=objective,
    )


def _base_margin(leaves: np.ndarray, margins: np.ndarray) -> np.float32 | None:
    """The float32 base margin XGBoost starts every sum from: the one value (near margin -
    leaf) for which base + leaf, in float32, is XGBoost's margin for every witness row."""
    estimate = np.float32(np.median(margins.astype(np.float64) - leaves.astype(np.float64)))
    candidates = [estimate]
    for direction in (np.inf, -np.inf):
        value = estimate
        for _ in range(4):
            value = np.nextafter(value, np.float32(direction))
            candidates.append(value)
    for candidate in candidates:
        if np.array_equal(candidate + leaves, margins):
            return candidate
    return None
