"""Label encoding and held-out splits for field data (NumPy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rskeras.tasks import TASKS


@dataclass
class EncodedLabels:
    """Targets ready for ``model.fit``.

    Attributes:
        y: ``(n,)`` int32 class indices (binary, multiclass) or ``(n, k)`` float32
            values (regression; ``k`` = 1 for one target).
        class_names: names of the classes in index order (classification), else None.
    """

    y: np.ndarray
    class_names: list[str] | None


def encode_labels(values: np.ndarray, task: str, class_names: list[str] | None = None, field: str = "label") -> EncodedLabels:
    """Turn a column of field labels into training targets for ``task``.

    Classification labels may be strings or numbers; classes are sorted unless
    ``class_names`` fixes the order (then an unknown label is an error naming it).
    Regression labels must be numeric; ``field`` names the column in errors.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(map(repr, TASKS))}")
    values = np.asarray(values)
    if task == "regression":
        try:
            y = values.astype(np.float32)
        except ValueError:
            bad = next(v for v in values.tolist() if not _is_number(v))
            raise ValueError(f"regression needs numeric labels, but column {field!r} holds {bad!r}") from None
        if not np.isfinite(y).all():
            raise ValueError(f"column {field!r} has {int((~np.isfinite(y)).sum())} non-finite values")
        return EncodedLabels(y.reshape(len(y), -1), None)
    if task == "multilabel":
        raise ValueError("multilabel targets are one column per class; encode them as an (n, classes) array")
    labels = np.array([str(v) for v in values])
    names = [str(c) for c in class_names] if class_names is not None else sorted(set(labels.tolist()), key=_natural_key)
    unknown = sorted(set(labels.tolist()) - set(names))
    if unknown:
        raise ValueError(f"column {field!r} has labels {unknown} not in class_names {names}")
    if task == "binary" and len(names) != 2:
        raise ValueError(f"task 'binary' needs exactly 2 classes, column {field!r} has {len(names)}: {names}")
    if task == "multiclass" and len(names) < 2:
        raise ValueError(f"task 'multiclass' needs at least 2 classes, column {field!r} has {names}")
    index = {name: i for i, name in enumerate(names)}
    return EncodedLabels(np.array([index[v] for v in labels], dtype=np.int32), names)


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _natural_key(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def split_indices(n: int, test_fraction: float = 0.3, stratify: np.ndarray | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random train / held-out indices, stratified by class when ``stratify`` is given.

    Every class with at least two members keeps at least one sample on each side.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    if stratify is None:
        order = rng.permutation(n)
        n_test = max(1, int(round(n * test_fraction)))
        return np.sort(order[n_test:]), np.sort(order[:n_test])
    train, test = [], []
    for cls in np.unique(stratify):
        members = rng.permutation(np.flatnonzero(stratify == cls))
        n_test = int(round(len(members) * test_fraction))
        if len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
