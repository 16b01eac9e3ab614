"""EuroSAT (Helber et al., 2019) as tf.data: Sentinel-2 patches of 64x64 pixels in 10 land-use classes.

Two sources:

- a folder laid out like the original archive, ``<root>/<ClassName>/<ClassName>_<n>.jpg`` (RGB) or
  ``.tif`` (13 bands), optionally with split files ``<root>/<split>.csv`` (columns
  ``filename,label,class_name``, ``filename`` relative to ``root``) and ``label_map.json``
  (class name -> label). Without split files a stratified, seeded 80/20 train/validation
  split of all images is used;
- tensorflow-datasets (``eurosat/rgb``, ``eurosat/all``), downloaded on first use where the
  network allows. EuroSAT has a single split there; ``train`` and ``validation`` are its
  first 80 % and last 20 %.

Images come as ``(64, 64, bands)`` float32 raw values (0-255 for RGB, reflectance x 10,000
for the 13 bands), labels as int32 class indices in the order of ``EUROSAT_CLASSES``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from rskeras._checks import check_integer
from rskeras.data.labels import split_indices
from rskeras.data.sensors import band_index, get_sensor

EUROSAT_CLASSES = (
    "AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
    "Pasture", "PermanentCrop", "Residential", "River", "SeaLake",
)  # fmt: skip
SPLITS = ("train", "validation", "all")
VALIDATION_FRACTION = 0.2
_SUFFIXES = {"rgb": (".jpg", ".jpeg", ".png"), "ms": (".tif", ".tiff")}


@dataclass
class EurosatFiles:
    """The images of one split of a EuroSAT folder.

    Attributes:
        paths: absolute image paths.
        labels: int class indices, aligned with ``paths``.
        class_names: names in label order.
        source: where the split came from (a CSV file or the folder listing).
    """

    paths: list[str]
    labels: np.ndarray
    class_names: list[str]
    source: str


def _sensor(kind: str):
    return get_sensor("eurosat_rgb" if kind == "rgb" else "eurosat_ms")


def resolve_bands(bands: str | Sequence[str]) -> tuple[str, list[int], list[str]]:
    """``(kind, 0-based band positions, band names)`` for ``"rgb"``, ``"all"`` or a list of band names.

    Names are those of the ``eurosat_rgb`` sensor (red, green, blue) or of ``eurosat_ms`` (B1..B12, B8A,
    or common names such as ``nir``); an unknown name raises a KeyError listing the bands.
    """
    if isinstance(bands, str):
        if bands == "rgb":
            return "rgb", [0, 1, 2], list(_sensor("rgb").bands)
        if bands == "all":
            spec = _sensor("ms")
            return "ms", list(range(len(spec.bands))), list(spec.bands)
        bands = [bands]
    names = list(bands)
    rgb = _sensor("rgb")
    if all(n.lower() in rgb.bands for n in names):
        return "rgb", [band_index(rgb, n) for n in names], [n.lower() for n in names]
    spec = _sensor("ms")
    try:
        index = [band_index(spec, n) for n in names]
    except KeyError as err:
        raise KeyError(f"{err.args[0]}; or 'rgb', 'all', or RGB bands {', '.join(rgb.bands)}") from None
    return "ms", index, [spec.bands[i] for i in index]


_ARCHIVES = {"rgb": "the RGB archive (.jpg)", "ms": "the 13-band archive (.tif)"}


def folder_kind(root: str | os.PathLike) -> str | None:
    """``"rgb"`` or ``"ms"``: which EuroSAT archive a folder holds, from the first image its split CSVs
    list or its class folders hold; None when it holds neither kind of image."""
    root = Path(root)
    for split in ("train", "validation"):
        path = root / f"{split}.csv"
        if path.exists():
            with open(path, newline="") as f:
                row = next(csv.DictReader(f), None)
            if row and row.get("filename"):
                return _kind_of(row["filename"])
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for entry in os.scandir(folder):
            kind = _kind_of(entry.name)
            if kind:
                return kind
    return None


def _kind_of(name: str) -> str | None:
    suffix = os.path.splitext(name)[1].lower()
    return next((kind for kind, suffixes in _SUFFIXES.items() if suffix in suffixes), None)


def check_folder_bands(root: str | os.PathLike, bands: str | Sequence[str]) -> None:
    """Raise a KeyError naming the folder and its bands when ``bands`` are not in the archive ``root`` holds.

    ``["red", "green", "nir"]`` or ``"all"`` need the 13-band archive (.tif); a folder of the RGB
    archive (.jpg) has only red, green and blue.
    """
    kind, _, _ = resolve_bands(bands)
    found = folder_kind(root)
    if found is not None and found != kind:
        available = ", ".join(_sensor(found).bands) if found == "rgb" else "B1..B12, B8A (or 'all')"
        given = repr(bands) if isinstance(bands, str) else ", ".join(map(str, bands))
        raise KeyError(f"bands {given} need {_ARCHIVES[kind]}, "
                       f"but {root} holds {_ARCHIVES[found]} with bands {available}")


def _label_map(root: Path) -> list[str]:
    path = root / "label_map.json"
    if path.exists():
        mapping = json.loads(path.read_text())
        return [name for name, _ in sorted(mapping.items(), key=lambda item: item[1])]
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise FileNotFoundError(f"{root} holds neither label_map.json nor class folders (e.g. {EUROSAT_CLASSES[0]}/)")
    return classes


def eurosat_files(root: str | os.PathLike, split: str = "train", kind: str = "rgb", seed: int = 0) -> EurosatFiles:
    """The image paths and labels of ``split`` in a EuroSAT folder (see the module docstring).

    Raises:
        FileNotFoundError: ``root`` is missing, holds no images of ``kind``, or a listed image is missing.
        ValueError: ``split`` is unknown or a CSV lacks the ``filename`` and ``label`` columns.
    """
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"unknown EuroSAT split {split!r}; choose one of {', '.join(SPLITS)}")
    if not root.is_dir():
        raise FileNotFoundError(f"EuroSAT folder {root} does not exist")
    class_names = _label_map(root)
    csv_files = [root / f"{s}.csv" for s in (("train", "validation") if split == "all" else (split,))]
    if all(f.exists() for f in csv_files):
        paths, labels = [], []
        for f in csv_files:
            with open(f, newline="") as fh:
                reader = csv.DictReader(fh)
                missing = {"filename", "label"} - set(reader.fieldnames or ())
                if missing:
                    raise ValueError(f"{f} lacks column(s) {sorted(missing)}; it has {reader.fieldnames}")
                for row in reader:
                    paths.append(str(root / row["filename"]))
                    labels.append(int(row["label"]))
        if paths and not os.path.exists(paths[0]):
            raise FileNotFoundError(f"{csv_files[0]} lists {paths[0]}, which does not exist")
        return EurosatFiles(paths, np.asarray(labels, np.int32), class_names, ", ".join(map(str, csv_files)))
    paths, labels = [], []
    for label, name in enumerate(class_names):
        files = sorted(p for p in (root / name).glob("*") if p.suffix.lower() in _SUFFIXES[kind])
        paths += [str(p) for p in files]
        labels += [label] * len(files)
    if not paths:
        raise FileNotFoundError(f"no {'/'.join(_SUFFIXES[kind])} images in the class folders of {root} "
                                f"(classes: {', '.join(class_names)})")
    labels = np.asarray(labels, np.int32)
    if split != "all":
        train, validation = split_indices(len(paths), VALIDATION_FRACTION, stratify=labels, seed=seed)
        keep = train if split == "train" else validation
        order = np.random.default_rng(seed).permutation(keep)
        paths, labels = [paths[i] for i in order], labels[order]
    return EurosatFiles(paths, labels, class_names, f"{root} (class folders, seeded 80/20 split)")


def _read_multiband(path: bytes) -> np.ndarray:
    """A 13-band EuroSAT image as (64, 64, 13) float32; an unreadable file raises a ValueError naming it."""
    from rasterio.errors import RasterioError

    from rskeras.data.rasters import open_raster

    name = path.decode()
    with open_raster(name) as ds:
        try:
            return ds.read().transpose(1, 2, 0).astype(np.float32)
        except RasterioError as err:
            raise ValueError(f"cannot read EuroSAT image {name} ({err}); replace or remove the file") from None


def _tfds_dataset(name: str, split: str, data_dir: str | None, download: bool) -> tf.data.Dataset:
    import tensorflow_datasets as tfds

    slices = {"train": f"train[:{100 - int(VALIDATION_FRACTION * 100)}%]",
              "validation": f"train[{100 - int(VALIDATION_FRACTION * 100)}%:]", "all": "train"}
    try:
        return tfds.load(name, split=slices[split], data_dir=data_dir, download=download, as_supervised=False)
    except Exception as err:  # tfds raises many kinds (DatasetNotFoundError, network and checksum errors)
        raise FileNotFoundError(
            f"EuroSAT through tensorflow-datasets ({name!r}, data_dir={data_dir or '~/tensorflow_datasets'}, "
            f"download={download}) failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}. "
            "Without network access pass root= a folder laid out like the EuroSAT archive "
            "(class folders, optional train.csv / validation.csv and label_map.json)"
        ) from err


def eurosat(
    root: str | os.PathLike | None = None,
    split: str = "train",
    bands: str | Sequence[str] = "rgb",
    batch_size: int | None = 64,
    *,
    shuffle: bool | None = None,
    seed: int = 0,
    limit: int | None = None,
    cache: bool = False,
    repeat: bool = False,
    drop_remainder: bool = False,
    prefetch: bool = True,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> tf.data.Dataset:
    """EuroSAT as a dataset of ``(image, label)``.

    Args:
        root: a folder laid out like the EuroSAT archive; None reads ``eurosat/rgb`` or
            ``eurosat/all`` through tensorflow-datasets.
        split: ``"train"``, ``"validation"`` or ``"all"``.
        bands: ``"rgb"`` (the JPEG archive), ``"all"`` (the 13-band archive) or band names
            (``["red", "green"]``; ``["B4", "B8"]`` or ``["red", "nir"]`` from the 13 bands).
        batch_size: images per batch; None for unbatched elements.
        shuffle: shuffle the images each epoch (default: for ``"train"`` only).
        seed: seed of the shuffle (and of the split of a folder without CSVs).
        limit: use only the first ``limit`` images of the split (quick runs).
        cache: keep the decoded images in memory after the first pass (RGB: 12 KB per image).
        repeat: repeat forever.
        drop_remainder: drop a last partial batch.
        prefetch: prefetch batches in the background.
        data_dir, download: where tensorflow-datasets keeps its data and whether it may download.

    Returns:
        ``(batch, 64, 64, bands)`` float32 raw values and ``(batch,)`` int32 labels.
        The class names are in :data:`EUROSAT_CLASSES` (and ``label_map.json`` of a folder).
    """
    kind, index, _ = resolve_bands(bands)
    if split not in SPLITS:
        raise ValueError(f"unknown EuroSAT split {split!r}; choose one of {', '.join(SPLITS)}")
    check_integer("batch_size", batch_size, allow_none=True)
    check_integer("limit", limit, allow_none=True)
    if root is not None and Path(root).is_dir():
        check_folder_bands(root, bands)
    shuffle = split == "train" if shuffle is None else shuffle
    autotune = tf.data.AUTOTUNE
    if root is None:
        name = "eurosat/rgb" if kind == "rgb" else "eurosat/all"
        ds = _tfds_dataset(name, split, None if data_dir is None else str(data_dir), download)
        key = "image" if kind == "rgb" else "sentinel2"
        ds = ds.map(lambda e: (tf.cast(e[key], tf.float32), tf.cast(e["label"], tf.int32)), num_parallel_calls=autotune)
        if limit:
            ds = ds.take(limit)
    else:
        files = eurosat_files(root, split, kind, seed=seed)
        paths, labels = files.paths[:limit], files.labels[:limit]
        ds = tf.data.Dataset.from_tensor_slices((paths, labels))
        if kind == "rgb":
            def decode(path, label):
                return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False), label
        else:
            def decode(path, label):
                image = tf.numpy_function(_read_multiband, [path], tf.float32, stateful=False)
                return tf.ensure_shape(image, (None, None, len(_sensor("ms").bands))), label
        ds = ds.map(decode, num_parallel_calls=autotune, deterministic=True)
    if index != list(range(len(index))) or (kind == "ms" and len(index) != len(_sensor("ms").bands)):
        ds = ds.map(lambda x, y: (tf.gather(x, index, axis=-1), y), num_parallel_calls=autotune)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(min(limit or 27000, 27000), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.map(lambda x, y: (tf.ensure_shape(tf.cast(x, tf.float32), (64, 64, len(index))), y),
                num_parallel_calls=autotune)
    if batch_size:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=autotune)
    return ds.prefetch(autotune) if prefetch else ds


def eurosat_class_names(root: str | os.PathLike | None = None) -> list[str]:
    """The class names in label order: from ``root``'s ``label_map.json`` or folders, else the tfds order."""
    return _label_map(Path(root)) if root is not None else list(EUROSAT_CLASSES)

