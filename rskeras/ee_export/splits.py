"""Train/validation/test split by region: a grid of cells, each cell wholly in one split.

Patches are sampled only inside the cells of their split, shrunk by a guard margin of half a patch,
so patches of different splits never overlap and neighbouring patches do not leak across splits.
Pure Python (no ``ee``), so the assignment is reproducible and testable offline.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Mapping, Sequence


@dataclass(frozen=True)
class GridCell:
    """One grid cell: ``(west, south, east, north)`` in degrees, its index and its split."""

    bounds: tuple[float, float, float, float]
    index: tuple[int, int]
    split: str

    def shrunk(self, margin_lon: float, margin_lat: float) -> tuple[float, float, float, float]:
        """The cell's bounds moved inwards by the guard band (degrees of longitude and latitude)."""
        w, s, e, n = self.bounds
        return (w + margin_lon, s + margin_lat, e - margin_lon, n - margin_lat)


def grid_cells(bbox: Sequence[float], cell_deg: float) -> list[tuple[tuple[float, float, float, float], tuple[int, int]]]:
    """Cells of ``cell_deg`` degrees covering ``bbox`` ``(west, south, east, north)``, row by row from the north-west."""
    w, s, e, n = (float(v) for v in bbox)
    if not (w < e and s < n):
        raise ValueError(f"bbox must be (west, south, east, north) with west < east and south < north, got {bbox}")
    if cell_deg <= 0:
        raise ValueError(f"cell size must be positive, got {cell_deg}")
    ncols, nrows = math.ceil((e - w) / cell_deg - 1e-9), math.ceil((n - s) / cell_deg - 1e-9)
    cells = []
    for r in range(nrows):
        top = n - r * cell_deg
        for c in range(ncols):
            left = w + c * cell_deg
            bounds = (left, max(s, top - cell_deg), min(e, left + cell_deg), top)
            cells.append((tuple(round(v, 9) for v in bounds), (r, c)))
    return cells


def assign_grid_splits(bbox: Sequence[float], cell_deg: float, fractions: Mapping[str, float], seed: int = 0) -> list[GridCell]:
    """Assign each grid cell to a split, shuffled with ``seed``, in proportion to ``fractions``.

    Every split with a positive fraction gets at least one cell.

    Raises:
        ValueError: fractions that are not positive and summing to 1, or fewer cells than splits.
    """
    names = [k for k, v in fractions.items() if v > 0]
    total = sum(fractions.values())
    if not names or abs(total - 1.0) > 1e-6 or any(v < 0 for v in fractions.values()):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {dict(fractions)}")
    cells = grid_cells(bbox, cell_deg)
    if len(cells) < len(names):
        raise ValueError(f"{len(cells)} grid cell(s) of {cell_deg} deg for splits {names}: use smaller cells or a larger region")
    counts = {k: max(1, round(fractions[k] * len(cells))) for k in names}
    while sum(counts.values()) > len(cells):
        counts[max(counts, key=counts.get)] -= 1
    while sum(counts.values()) < len(cells):
        counts[max(names, key=lambda k: fractions[k] * len(cells) - counts[k])] += 1
    order = list(range(len(cells)))
    random.Random(seed).shuffle(order)
    labels = [k for k in names for _ in range(counts[k])]
    assigned = [None] * len(cells)
    for i, label in zip(order, labels):
        assigned[i] = label
    return [GridCell(b, idx, assigned[i]) for i, (b, idx) in enumerate(cells)]
