"""Isolation Forest as plain numpy arrays: export from scikit-learn, store, and score fast.

Why not scikit-learn at serving time: ``IsolationForest.score_samples`` costs ~4 ms even for one
row (joblib dispatch, input validation, one ``tree.apply`` per tree), and loading it means
unpickling. Here the forest is exported to the node arrays scikit-learn itself keeps
(``children_left/right``, ``feature``, ``threshold``, ``n_node_samples``, ``missing_go_to_left``),
stored as an ``.npz`` read with ``allow_pickle=False``, and scored by walking **all trees at once**:
the nodes of every tree are renumbered breadth-first into one array so that the two children of a
node are adjacent (``right = left + 1``) and a leaf points at itself. One depth step for every
(row, tree) pair is then five vectorized gathers, and ``max_depth`` (8 for 256 samples) steps put
every walker on its leaf.

The score reproduces ``-IsolationForest.score_samples``: ``2 ** (-E[h(x)] / c(max_samples))`` where
``h(x)`` is the leaf depth plus ``c(n_leaf)``, the average path length of an unbuilt subtree. Like
scikit-learn, inputs are rounded to float32 before comparing with the (float64) thresholds, and a
missing value (NaN) follows the node's ``missing_go_to_left``. The score lies in (0, 1]: near 1 is
anomalous, around 0.5 and below is ordinary.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from core.errors import ModelArtifactError

_LEAF: Final = -1
_WALKERS_PER_CHUNK: Final = 1 << 18
"""(row, tree) pairs walked at once; bounds the scratch arrays to a few MB."""
_ARRAY_FIELDS: Final = (
    "tree_offsets",
    "children_left",
    "children_right",
    "feature",
    "threshold",
    "n_node_samples",
    "missing_go_to_left",
)

Int64Array = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class ForestArrays:
    """An exported isolation forest: the nodes of all trees, concatenated.

    Tree ``t`` owns nodes ``tree_offsets[t]:tree_offsets[t + 1]``; child indices are local to the
    tree, ``-1`` marks a leaf; ``feature`` indexes the model's feature order.
    """

    tree_offsets: Int64Array
    children_left: Int64Array
    children_right: Int64Array
    feature: Int64Array
    threshold: FloatArray
    n_node_samples: Int64Array
    missing_go_to_left: NDArray[np.bool_]
    max_samples: int
    n_features: int

    @property
    def n_trees(self) -> int:
        """How many trees the forest has."""
        return len(self.tree_offsets) - 1


def export_isolation_forest(forest: Any) -> ForestArrays:
    """Copy the trees of a fitted ``sklearn.ensemble.IsolationForest`` into plain arrays.

    Trees fitted on a feature subset get their feature indices mapped back to the full order.
    """
    n_features = int(forest.n_features_in_)
    offsets, lefts, rights, features, thresholds, samples, missing = [0], [], [], [], [], [], []
    for estimator, used in zip(forest.estimators_, forest.estimators_features_, strict=True):
        tree = estimator.tree_
        feature = np.asarray(tree.feature, dtype=np.int64).copy()
        internal = tree.children_left != _LEAF
        if forest.bootstrap_features or len(used) != n_features:
            feature[internal] = np.asarray(used, dtype=np.int64)[feature[internal]]
        feature[~internal] = 0
        offsets.append(offsets[-1] + int(tree.node_count))
        lefts.append(np.asarray(tree.children_left, dtype=np.int64))
        rights.append(np.asarray(tree.children_right, dtype=np.int64))
        features.append(feature)
        thresholds.append(np.where(internal, tree.threshold, 0.0).astype(np.float64))
        samples.append(np.asarray(tree.n_node_samples, dtype=np.int64))
        missing.append(np.asarray(tree.missing_go_to_left, dtype=np.bool_))
    return ForestArrays(
        tree_offsets=np.asarray(offsets, dtype=np.int64),
        children_left=np.concatenate(lefts),
        children_right=np.concatenate(rights),
        feature=np.concatenate(features),
        threshold=np.concatenate(thresholds),
        n_node_samples=np.concatenate(samples),
        missing_go_to_left=np.concatenate(missing),
        max_samples=int(forest.max_samples_),
        n_features=n_features,
    )


def forest_to_npz(forest: ForestArrays) -> bytes:
    """Serialize to an uncompressed ``.npz`` (deterministic bytes for the same forest)."""
    buffer = io.BytesIO()
    arrays = {name: getattr(forest, name) for name in _ARRAY_FIELDS}
    np.savez(
        buffer,
        **arrays,
        max_samples=np.int64(forest.max_samples),
        n_features=np.int64(forest.n_features),
    )
    return buffer.getvalue()


def forest_from_npz(raw: bytes, *, source: str) -> ForestArrays:
    """Read an ``.npz`` written by :func:`forest_to_npz`, checking every array.

    Raises :class:`ModelArtifactError` naming ``source`` when anything is missing or inconsistent.
    """
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            data = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError) as exc:
        raise ModelArtifactError(f"{source}: not a readable .npz file: {exc}") from None
    missing = [name for name in (*_ARRAY_FIELDS, "max_samples", "n_features") if name not in data]
    if missing:
        raise ModelArtifactError(f"{source}: missing arrays {', '.join(missing)}")
    try:
        forest = ForestArrays(
            tree_offsets=data["tree_offsets"].astype(np.int64, casting="safe"),
            children_left=data["children_left"].astype(np.int64, casting="safe"),
            children_right=data["children_right"].astype(np.int64, casting="safe"),
            feature=data["feature"].astype(np.int64, casting="safe"),
            threshold=data["threshold"].astype(np.float64, casting="safe"),
            n_node_samples=data["n_node_samples"].astype(np.int64, casting="safe"),
            missing_go_to_left=data["missing_go_to_left"].astype(np.bool_, casting="safe"),
            max_samples=int(data["max_samples"]),
            n_features=int(data["n_features"]),
        )
    except TypeError as exc:
        raise ModelArtifactError(f"{source}: an array has the wrong type: {exc}") from None
    problems = _structure_problems(forest)
    if problems:
        raise ModelArtifactError(f"{source}: malformed forest: {'; '.join(problems)}")
    return forest


def _structure_problems(forest: ForestArrays) -> list[str]:
    offsets = forest.tree_offsets
    n_nodes = len(forest.children_left)
    if offsets.ndim != 1 or len(offsets) < 2 or offsets[0] != 0 or offsets[-1] != n_nodes:
        return ["tree_offsets must start at 0 and end at the node count"]
    if np.any(np.diff(offsets) < 1):
        return ["every tree needs at least one node"]
    for name in _ARRAY_FIELDS[1:]:
        if getattr(forest, name).shape != (n_nodes,):
            return [f"{name} must have one entry per node ({n_nodes})"]
    problems = []
    tree_size = np.repeat(np.diff(offsets), np.diff(offsets))
    left, right = forest.children_left, forest.children_right
    leaf = left == _LEAF
    if np.any(leaf != (right == _LEAF)):
        problems.append("a node has exactly one child")
    for name, child in (("children_left", left), ("children_right", right)):
        if np.any(~leaf & ((child < 1) | (child >= tree_size))):
            problems.append(f"{name} points outside its tree")
    if np.any(~leaf & ((forest.feature < 0) | (forest.feature >= forest.n_features))):
        problems.append(f"feature index outside 0..{forest.n_features - 1}")
    if np.any(np.isnan(forest.threshold)):
        problems.append("a threshold is NaN")
    if np.any(forest.n_node_samples < 1) or forest.max_samples < 1:
        problems.append("sample counts must be positive")
    return problems


def average_path_length(n_samples: NDArray[Any]) -> FloatArray:
    """``c(n)``: mean depth of an unsuccessful search in a binary tree of ``n`` samples.

    ``c(n) = 2 (ln(n - 1) + gamma) - 2 (n - 1) / n`` (gamma: Euler's constant), with
    ``c(1) = 0`` and ``c(2) = 1``; the same arithmetic as scikit-learn's ``_average_path_length``.
    """
    n = np.asarray(n_samples, dtype=np.float64)
    result = np.zeros(n.shape, dtype=np.float64)
    big = n > 2
    result[n == 2] = 1.0
    result[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return result


class CompiledForest:
    """An isolation forest laid out for scoring every tree in lock step."""

    def __init__(self, forest: ForestArrays) -> None:
        order, depth = _breadth_first_order(forest)
        n_nodes = len(order)
        new_of_old = np.empty(n_nodes, dtype=np.int64)
        new_of_old[order] = np.arange(n_nodes, dtype=np.int64)
        tree_of_old = np.repeat(
            np.arange(forest.n_trees, dtype=np.int64), np.diff(forest.tree_offsets)
        )
        old_left = forest.children_left[order]
        leaf = old_left == _LEAF
        global_left = old_left + forest.tree_offsets[tree_of_old[order]]
        self._left = np.where(leaf, np.arange(n_nodes), new_of_old[np.where(leaf, 0, global_left)])
        self._feature = np.where(leaf, 0, forest.feature[order])
        # A leaf never moves: x > +inf is never true, and NaN goes "left" to the leaf itself.
        self._threshold = np.where(leaf, np.inf, forest.threshold[order])
        self._nan_goes_right = ~forest.missing_go_to_left[order] & ~leaf
        # scikit-learn adds (depth counted from 1) + c(n_leaf) - 1.0 per tree; keep its arithmetic.
        depth_from_one = (depth + 1).astype(np.float64)
        path = depth_from_one + average_path_length(forest.n_node_samples[order]) - 1.0
        self._leaf_path = np.where(leaf, path, 0.0)
        self._n_trees = forest.n_trees
        self._n_features = forest.n_features
        self._steps = int(depth.max())
        self._normalizer = float(
            forest.n_trees * average_path_length(np.array([forest.max_samples]))[0]
        )

    @property
    def n_features(self) -> int:
        """Width of the feature rows the forest expects."""
        return self._n_features

    def anomaly_score(self, features: NDArray[Any]) -> FloatArray:
        """Anomaly score in (0, 1] per row of ``features`` (equal to ``-score_samples``)."""
        rows = np.asarray(features, dtype=np.float32).astype(np.float64)
        if rows.ndim != 2 or rows.shape[1] != self._n_features:
            raise ValueError(f"expected rows of {self._n_features} features, got {rows.shape}")
        chunk = max(1, _WALKERS_PER_CHUNK // self._n_trees)
        if len(rows) <= chunk:
            return self._score_chunk(rows)
        return np.concatenate(
            [self._score_chunk(rows[i : i + chunk]) for i in range(0, len(rows), chunk)]
        )

    def _score_chunk(self, rows: FloatArray) -> FloatArray:
        n_rows = rows.shape[0]
        flat = rows.ravel()
        row_base = (np.arange(n_rows, dtype=np.int64) * self._n_features)[:, np.newaxis]
        node = np.broadcast_to(np.arange(self._n_trees, dtype=np.int64), (n_rows, self._n_trees))
        has_nan = bool(np.isnan(flat).any())
        for _ in range(self._steps):
            value = flat[row_base + self._feature[node]]
            right = value > self._threshold[node]
            if has_nan:
                right |= np.isnan(value) & self._nan_goes_right[node]
            node = self._left[node] + right
        depths = self._leaf_path[node].sum(axis=1)
        if self._normalizer == 0.0:
            return np.ones(n_rows, dtype=np.float64)
        return np.asarray(np.exp2(-depths / self._normalizer), dtype=np.float64)


def _breadth_first_order(forest: ForestArrays) -> tuple[Int64Array, Int64Array]:
    """Global node ids (old numbering) in level order with siblings adjacent, and their depths.

    Level 0 holds every root, so the root of tree ``t`` gets new id ``t``.
    """
    offsets = forest.tree_offsets
    tree_of_node = np.repeat(np.arange(forest.n_trees, dtype=np.int64), np.diff(offsets))
    internal = forest.children_left != _LEAF
    left = np.where(internal, forest.children_left + offsets[tree_of_node], _LEAF)
    right = np.where(internal, forest.children_right + offsets[tree_of_node], _LEAF)
    frontier = offsets[:-1].copy()
    levels, depths = [frontier], [np.zeros(len(frontier), dtype=np.int64)]
    level = 0
    while True:
        parents = frontier[internal[frontier]]
        if parents.size == 0:
            break
        level += 1
        frontier = np.empty(2 * parents.size, dtype=np.int64)
        frontier[0::2] = left[parents]
        frontier[1::2] = right[parents]
        levels.append(frontier)
        depths.append(np.full(frontier.size, level, dtype=np.int64))
        if level > len(internal):
            raise ModelArtifactError("isolation forest: a tree has a cycle")
    order = np.concatenate(levels)
    if len(order) != len(internal) or len(np.unique(order)) != len(order):
        raise ModelArtifactError(
            "isolation forest: a node is unreachable or shared between parents"
        )
    return order, np.concatenate(depths)
