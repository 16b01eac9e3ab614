"""Where training patches come from: samplers and spatial splits on the scenes' grids (NumPy, no TensorFlow).

Windows. A patch is a window ``(scene, row, col)`` of ``patch_size = (height, width)`` pixels on
its scene's target grid, ``(row, col)`` being its top-left pixel. Every window lies inside its
scene; a scene smaller than the patch is an error naming both sizes.

Samplers (seeded: epoch ``e`` of seed ``s`` draws from ``np.random.default_rng([s, e])``, so the
same seed gives the same windows in every run):

- :class:`GridSampler` ``(stride)``: windows every ``stride`` pixels from the top-left, plus a
  last row and column flush with the scene's bottom and right edge, so every pixel of every scene
  lies in a window. The same windows every epoch, in scene, row, column order. ``stride`` = patch
  size (the default) gives windows that do not overlap except at that last row and column.
- :class:`RandomSampler` ``(length, balanced)``: ``length`` windows per epoch (default: as many as
  the patch size fits into the area sampled), scenes drawn in proportion to the area they offer,
  positions uniform. With ``balanced=True`` each window is placed around a labelled pixel: a class
  is drawn uniformly among the classes present, then one of its pixels (from the census sample of
  :func:`rskeras.data.label_sources.census`), then one of the windows that hold that pixel, lie
  inside the scene (and the subset), uniformly; with ``centred`` (targets from the centre pixel)
  the window that has it at its centre. Every class then appears in about ``length / n_classes``
  windows, however rare it is.

Spatial splits. A split assigns *cells* of each scene's grid to named subsets; a window belongs
to a subset only when every cell it touches is in that subset, so windows of different subsets
never share a pixel (validation patches never overlap training ones, whatever the samplers do).

- :class:`BlockSplit` ``(block_size, fractions, seed)``: cells are blocks of ``block_size``
  pixels a side from each scene's top-left. Each scene's blocks are shuffled (seeded by ``seed``
  and the scene's position) and the first ``round(fraction * n)`` go to the first subset, the
  next to the second, ... (largest-remainder rounding, so every block has a subset). Blocks
  larger than the patch waste less at block borders; a multiple of the patch size wastes none
  for a grid sampler with ``stride`` = patch size.
- :class:`RegionSplit` ``(path, column)``: cells are pixels (squares of several pixels on a
  scene larger than 2**24 pixels, so the map stays within 16 MB); a cell belongs to the subset
  named by ``column`` of the region polygon holding its centre, and to none outside every region.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from rasterio.transform import Affine

from rskeras.data.vector_labels import read_features

NO_SUBSET = 255
MAX_CELLS = 1 << 24
DEFAULT_FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}
_ATTEMPTS = 50  # rounds of uniform draws before a subset is declared too small for a window
ROOM_CHECKS = 2000  # census pixels per class and scene checked for room for a window (splits, centred windows)


@dataclass(frozen=True)
class GridSampler:
    """Windows on a regular grid (see the module). ``stride``: pixels between windows, None = the patch size."""

    stride: int | tuple[int, int] | None = None

    def __post_init__(self):
        if self.stride is not None:
            as_size(self.stride, "GridSampler stride")


@dataclass(frozen=True)
class RandomSampler:
    """Random windows (see the module): ``length`` per epoch (None: the area over the patch area),
    ``balanced``: placed around pixels of classes drawn uniformly."""

    length: int | None = None
    balanced: bool = False

    def __post_init__(self):
        if self.length is not None and (isinstance(self.length, bool) or not isinstance(self.length, int)
                                        or self.length < 1):
            raise ValueError(f"RandomSampler length must be a positive number of windows, got {self.length!r}")
        if not isinstance(self.balanced, bool):
            raise ValueError(f"RandomSampler balanced must be true or false, got {self.balanced!r}")  # noqa: TRY004


@dataclass(frozen=True)
class BlockSplit:
    """Split each scene into square blocks of ``block_size`` pixels assigned to subsets by ``fractions``.

    ``fractions``: subset name -> fraction (summing to 1), or 2 or 3 numbers for ``train``,
    ``validation`` (and ``test``).
    """

    block_size: int = 256
    fractions: Mapping[str, float] | Sequence[float] = field(default_factory=lambda: dict(DEFAULT_FRACTIONS))
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.block_size, bool) or not isinstance(self.block_size, int) or self.block_size < 1:
            raise ValueError(f"BlockSplit block_size must be a positive number of pixels, got {self.block_size!r}")
        _fractions(self.fractions)

    def subset_names(self) -> list[str]:
        """The subsets, in code order."""
        return list(_fractions(self.fractions))

    def maps(self, scenes: Sequence) -> list[SplitMap]:
        """The blocks of each scene (objects with ``shape``) and their subsets."""
        fractions = _fractions(self.fractions)
        found = []
        for i, scene in enumerate(scenes):
            rows, cols = (-(-n // self.block_size) for n in scene.shape)
            codes = np.repeat(np.arange(len(fractions), dtype=np.uint8),
                              _largest_remainder(list(fractions.values()), rows * cols))
            np.random.default_rng([self.seed, i]).shuffle(codes)
            found.append(SplitMap(self.block_size, codes.reshape(rows, cols), tuple(fractions)))
        return found


@dataclass(frozen=True)
class RegionSplit:
    """Split the scenes by region polygons: ``column`` of the layer at ``path`` names each region's subset."""

    path: str | os.PathLike
    column: str = "split"
    layer: str | int | None = None

    def _features(self):
        return read_features(self.path, self.column, layer=self.layer, what="split regions", key="column")

    def subset_names(self) -> list[str]:
        """The subsets (the column's values, sorted), in code order."""
        return sorted({str(v) for v in self._features().values.tolist()})

    def maps(self, scenes: Sequence) -> list[SplitMap]:
        """The regions burnt onto each scene's grid (objects with ``shape`` and ``grid``), cells as in the module."""
        features = self._features()
        names = sorted({str(v) for v in features.values.tolist()})
        codes = np.array([names.index(str(v)) for v in features.values.tolist()], dtype=np.uint8)
        found = []
        for scene in scenes:
            cell = max(1, math.ceil(math.sqrt(scene.shape[0] * scene.shape[1] / MAX_CELLS)))
            size = (-(-scene.shape[0] // cell), -(-scene.shape[1] // cell))
            transform = scene.grid.transform @ Affine.scale(cell)
            found.append(SplitMap(cell, features.burn(codes, size, transform, scene.grid.crs, NO_SUBSET, "uint8"),
                                  tuple(names)))
        return found


Split = BlockSplit | RegionSplit


def _fractions(fractions: Mapping[str, float] | Sequence[float]) -> dict[str, float]:
    if not isinstance(fractions, Mapping):
        values = list(fractions)
        if len(values) not in (2, 3):
            raise ValueError(f"BlockSplit fractions are 2 or 3 numbers (train, validation[, test]) or a mapping "
                             f"subset -> fraction, got {fractions!r}")
        fractions = dict(zip(("train", "validation", "test"), values))
    try:
        fractions = {str(k): float(v) for k, v in fractions.items()}
    except (TypeError, ValueError):
        raise ValueError(f"BlockSplit fractions must be numbers, got {fractions!r}") from None
    if not fractions or min(fractions.values()) < 0 or not math.isclose(sum(fractions.values()), 1, abs_tol=1e-6):
        raise ValueError(f"BlockSplit fractions must be >= 0 and sum to 1, got {fractions}")
    return fractions


def _largest_remainder(fractions: list[float], n: int) -> list[int]:
    """``n`` items shared by ``fractions``: floors, then the largest remainders get one more."""
    exact = np.asarray(fractions) * n
    counts = np.floor(exact).astype(int)
    extra = np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]
    counts[extra] += 1
    return counts.tolist()


@dataclass(frozen=True)
class SplitMap:
    """The subset code of each cell of a scene (``cell`` pixels a side; :data:`NO_SUBSET` = none)."""

    cell: int
    codes: np.ndarray
    names: tuple[str, ...]

    @functools.cached_property
    def _tables(self) -> dict[int, np.ndarray]:
        """Summed-area tables of each subset's cells (filled on first use)."""
        return {}

    def contains(self, rows: np.ndarray, cols: np.ndarray, patch: tuple[int, int], code: int) -> np.ndarray:
        """Whether each window ``(rows, cols)`` of ``patch`` pixels lies in cells of subset ``code`` only."""
        if code not in self._tables:
            self._tables[code] = np.pad((self.codes == code).astype(np.int64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
        inside = self._tables[code]
        r0, c0 = rows // self.cell, cols // self.cell
        r1, c1 = (rows + patch[0] - 1) // self.cell + 1, (cols + patch[1] - 1) // self.cell + 1
        total = inside[r1, c1] - inside[r0, c1] - inside[r1, c0] + inside[r0, c0]
        return total == (r1 - r0) * (c1 - c0)

    def mask(self, row0: int, col0: int, height: int, width: int, code: int) -> np.ndarray:
        """``(height, width)`` bool: the pixels of a window in cells of subset ``code``."""
        rows = (row0 + np.arange(height)) // self.cell
        cols = (col0 + np.arange(width)) // self.cell
        return self.codes[np.ix_(rows, cols)] == code


def split_maps(split: Split, scenes: Sequence, subset: str) -> tuple[list[SplitMap], int]:
    """The split's cell map of every scene and the code of ``subset``.

    Raises:
        ValueError naming the subsets there are, when ``subset`` is not one of them.
    """
    maps = split.maps(scenes)
    names = maps[0].names
    if subset not in names:
        raise ValueError(f"subset {subset!r} is not a subset of the split; subsets: {', '.join(names)}")
    return maps, names.index(subset)


def as_size(value: int | Sequence[int], what: str) -> tuple[int, int]:
    """``(height, width)`` from an int or a pair of positive ints."""
    size = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(size) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in size):
        raise ValueError(f"{what} must be a positive number of pixels or (height, width), got {value!r}")
    return int(size[0]), int(size[1])


class WindowPlan:
    """The windows a sampler gives for each epoch over some scenes, within a subset of a split.

    Args:
        shapes: ``(height, width)`` of each scene's grid.
        names: how errors name each scene.
        patch: ``(height, width)`` of a window.
        sampler: a :class:`GridSampler` or :class:`RandomSampler`.
        maps: each scene's :class:`SplitMap` (None: no split) and ``code``, the subset's code.
        class_pixels: ``[scene][class]`` census samples of pixel positions in the subset (balanced
            sampling).
        seed: the seed of the random draws.
        centred: balanced windows have the drawn pixel at their centre ``(height // 2, width // 2)``
            (for targets taken from the centre pixel).
    """

    def __init__(self, shapes: Sequence[tuple[int, int]], names: Sequence[str], patch: tuple[int, int],
                 sampler: GridSampler | RandomSampler, maps: Sequence[SplitMap] | None = None, code: int = 0,
                 class_pixels: list[list[np.ndarray]] | None = None, seed: int = 0, centred: bool = False):
        for shape, name in zip(shapes, names):
            if patch[0] > shape[0] or patch[1] > shape[1]:
                raise ValueError(f"patch_size {patch[0]}x{patch[1]} px is larger than scene {name} "
                                 f"({shape[0]}x{shape[1]} px on the target grid); choose a smaller patch_size")
        if isinstance(sampler, RandomSampler) and sampler.balanced and class_pixels is None:
            raise ValueError("a balanced RandomSampler needs class labels (labels= of classes)")
        self.shapes, self.names, self.patch, self.sampler = list(shapes), list(names), patch, sampler
        self.maps, self.code, self.seed, self.centred = maps, code, seed, centred
        self.class_pixels = None
        if isinstance(sampler, RandomSampler) and sampler.balanced:
            rng = np.random.default_rng(seed)
            self.class_pixels = [[self._with_room(s, p, rng) for p in per_class]
                                 for s, per_class in enumerate(class_pixels)]
            if not any(len(p) for per_class in self.class_pixels for p in per_class):
                raise ValueError("balanced sampling found no labelled pixel that a window of "
                                 f"{patch[0]}x{patch[1]} px can hold" + (" within the subset" if maps else "") +
                                 "; choose a smaller patch_size" + (" or larger split blocks" if maps else ""))

    def windows(self, epoch: int = 0) -> np.ndarray:
        """``(n, 3)`` int64 ``(scene, row, col)`` of the windows of ``epoch``."""
        if isinstance(self.sampler, GridSampler):
            return self._grid()
        rng = np.random.default_rng([self.seed, epoch])
        if self.sampler.balanced:
            return self._balanced(rng)
        return self._uniform(rng)

    def _inside(self, scene: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        if self.maps is None:
            return np.ones(rows.shape, dtype=bool)
        return self.maps[scene].contains(rows, cols, self.patch, self.code)

    def _grid(self) -> np.ndarray:
        stride = as_size(self.sampler.stride or self.patch, "stride")
        found = []
        for scene, (height, width) in enumerate(self.shapes):
            rows = _starts(height, self.patch[0], stride[0])
            cols = _starts(width, self.patch[1], stride[1])
            rr, cc = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
            keep = self._inside(scene, rr, cc)
            found.append(np.stack([np.full(keep.sum(), scene), rr[keep], cc[keep]], axis=1))
        windows = np.concatenate(found).astype(np.int64)
        if len(windows) == 0:
            raise ValueError(self._too_small())
        return windows

    def _area(self) -> np.ndarray:
        """Pixels each scene offers to the sampler (its subset's cells, or all)."""
        if self.maps is None:
            return np.array([h * w for h, w in self.shapes], dtype=np.float64)
        return np.array([(m.codes == self.code).sum() * m.cell ** 2 for m in self.maps], dtype=np.float64)

    def length(self) -> int:
        """Windows per epoch."""
        if isinstance(self.sampler, GridSampler):
            return len(self._grid())
        if self.sampler.length is not None:
            return int(self.sampler.length)
        return max(1, int(self._area().sum() // (self.patch[0] * self.patch[1])))

    def _uniform(self, rng: np.random.Generator) -> np.ndarray:
        area, n = self._area(), self.length()
        if area.sum() == 0:
            raise ValueError(self._too_small())
        heights, widths = (np.array(side) for side in zip(*self.shapes))
        found, total = [], 0
        for _ in range(_ATTEMPTS):
            scenes = rng.choice(len(area), size=n, p=area / area.sum())
            rows = rng.integers(0, heights[scenes] - self.patch[0] + 1)
            cols = rng.integers(0, widths[scenes] - self.patch[1] + 1)
            keep = np.zeros(n, dtype=bool)
            for scene in np.unique(scenes):
                mask = scenes == scene
                keep[mask] = self._inside(scene, rows[mask], cols[mask])
            found.append(np.stack([scenes, rows, cols], axis=1)[keep])
            total += keep.sum()
            if total >= n:
                return np.concatenate(found)[:n].astype(np.int64)
        raise ValueError(self._too_small())

    def _with_room(self, scene: int, pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The pixels some window can hold (within the subset; centred); at most :data:`ROOM_CHECKS` of them
        when that needs checking."""
        if self.maps is None and not self.centred:
            return pixels
        if len(pixels) > ROOM_CHECKS:
            pixels = pixels[rng.choice(len(pixels), ROOM_CHECKS, replace=False)]
        room = [self._holding(scene, row, col)[0].size > 0 for row, col in pixels]
        return pixels[np.array(room, dtype=bool)] if len(pixels) else pixels

    def _balanced(self, rng: np.random.Generator) -> np.ndarray:
        present = [(s, c) for s, per_class in enumerate(self.class_pixels) for c, p in enumerate(per_class) if len(p)]
        classes = sorted({c for _, c in present})
        windows = [self._around(rng, classes[rng.integers(len(classes))], present) for _ in range(self.length())]
        return np.array(windows, dtype=np.int64)

    def _around(self, rng: np.random.Generator, cls: int, present: list[tuple[int, int]]) -> tuple[int, int, int]:
        """A window holding a random pixel of class ``cls``, drawn among the windows that hold it."""
        scenes = [s for s, c in present if c == cls]
        weights = np.array([len(self.class_pixels[s][cls]) for s in scenes], dtype=np.float64)
        scene = scenes[rng.choice(len(scenes), p=weights / weights.sum())]
        pixels = self.class_pixels[scene][cls]
        tops, lefts = self._holding(scene, *pixels[rng.integers(len(pixels))])
        pick = rng.integers(tops.size)
        return scene, int(tops[pick]), int(lefts[pick])

    def _holding(self, scene: int, row: int, col: int) -> tuple[np.ndarray, np.ndarray]:
        """``(tops, lefts)`` of the windows inside the scene and the subset that hold pixel ``(row, col)``
        (centred: at their centre)."""
        height, width = self.shapes[scene]
        if self.centred:
            tops, lefts = np.array([row - self.patch[0] // 2]), np.array([col - self.patch[1] // 2])
        else:
            tops, lefts = np.meshgrid(np.arange(row - self.patch[0] + 1, row + 1),
                                      np.arange(col - self.patch[1] + 1, col + 1), indexing="ij")
            tops, lefts = tops.ravel(), lefts.ravel()
        inside = (tops >= 0) & (tops <= height - self.patch[0]) & (lefts >= 0) & (lefts <= width - self.patch[1])
        tops, lefts = tops[inside], lefts[inside]
        keep = self._inside(scene, tops, lefts)
        return tops[keep], lefts[keep]

    def _too_small(self) -> str:
        where = "the scenes" if self.maps is None else "the subset of the split"
        return (f"no window of {self.patch[0]}x{self.patch[1]} px fits in {where} "
                f"({', '.join(f'{n}: {h}x{w} px' for n, (h, w) in zip(self.names, self.shapes))}); "
                "choose a smaller patch_size" + (" or larger split blocks" if self.maps is not None else ""))


def _starts(length: int, patch: int, stride: int) -> np.ndarray:
    """Window starts along one axis: every ``stride`` pixels, and the last flush with the end."""
    starts = np.arange(0, length - patch + 1, stride)
    if starts[-1] != length - patch:
        starts = np.append(starts, length - patch)
    return starts
