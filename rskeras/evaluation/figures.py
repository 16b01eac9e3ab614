"""The confusion matrix as a figure, like Fig. 8 of the EuroSAT paper (Helber et al., 2019)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from rskeras.io import atomic_path


def confusion_matrix_figure(
    cm: np.ndarray,
    class_names: Sequence[str],
    dst: str | os.PathLike | None = None,
    title: str | None = None,
    dpi: int = 150,
):
    """A heat map of the confusion matrix normalised per row (each true class sums to 1).

    True classes are the rows (y axis), predicted classes the columns (x axis), both labelled
    with ``class_names``; each cell shows its share of the true class, in percent.

    Args:
        cm: ``(n, n)`` counts, rows true, columns predicted.
        class_names: the ``n`` class names.
        dst: a PNG path to write (atomically); None only returns the figure.
        title: the figure title (default: the overall accuracy).
        dpi: resolution of the PNG.

    Returns:
        The matplotlib Figure.
    """
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (a notebook's) is left alone

    cm = np.asarray(cm, dtype=np.float64)
    n = len(class_names)
    if cm.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {cm.shape} for {n} class names")
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    size = max(5.0, 0.6 * n + 2)
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    ax.set_xticks(range(n), labels=class_names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), labels=class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(cm) / cm.sum() if cm.sum() else 0.0
    ax.set_title(title or f"confusion matrix, overall accuracy {100 * accuracy:.2f} %")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if share[i, j] >= 0.005:
                    ax.text(j, i, f"{100 * share[i, j]:.0f}", ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.5 else "black")
    if dst is not None:
        with atomic_path(dst) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    return fig
