"""The working folder in which tests/test_readme.py runs the READMEs' blocks: the files they name, from real data.

A reader runs the README's blocks in a folder holding ``scene.tif``, ``field.csv``, ``eurosat.yaml``, an Earth
Engine export in a bucket and a trained ``unet.keras``. :func:`prepare_folder` builds that folder from the real data
in ``../shared/data``:

- ``scene.tif``: a copy of the real HLS L30 chip; ``field.csv``: lon/lat points over it labelled from its NDVI, made
  the way ``rskeras demo`` makes its field points (:func:`rskeras.demo.make_field_points`).
- ``../shared/data``: a link to the real data, so a block's ``../shared/data/...`` path works as written.
- ``eurosat.yaml``: the README's own training configuration with :data:`TRAINING_OVERRIDES` (one epoch on a
  EuroSAT subset) applied.
- ``gs/<bucket>/...``: the Cloud Storage exports the blocks read (``gs://`` is rewritten to ``gs/`` before a block
  runs), written from the real HLS chip by :func:`rskeras.data.geotiff_to_ee_patches` in Earth Engine's layout and
  holding only what Earth Engine writes (TFRecord files, and ``mixer.json`` for image exports).
- ``gs/bucket/samples/landcover_pixels_train.tfrecord.gz``: the table export of pixel samples at the field points
  (:data:`SAMPLE_TABLE`), written as ``sampleRegions`` + ``Export.table`` write it, bands named as in the exports.
- ``unet.keras``, ``unet_landcover64.keras``, ``landcover.keras``: small untrained U-Nets standing in for the reader's
  trained models (the first two on Earth Engine export bands, ``landcover.keras`` on ``scene.tif``'s HLS bands).
- ``scene_labels.tif``: the land-cover classes of ``scene.tif`` (NDVI thresholds, :func:`land_cover_raster`), the
  labels the README chips with Beam.
- ``pipelines``: a link to the repository's ``pipelines/``, so ``python pipelines/<script>.py`` works as written.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import yaml

from rskeras.data import SENSORS, geotiff_to_ee_patches, write_sample_table
from rskeras.data.sensors import ndvi
from rskeras.demo import LAND_COVER, make_field_points

REPO = Path(__file__).resolve().parents[1]
#: What a block's text says -> what runs: Cloud Storage URLs become folders of the working folder.
SUBSTITUTIONS = {"gs://": "gs/"}
#: The configuration file the training block names, built from the README's training YAML block.
TRAINING_CONFIG = "eurosat.yaml"
#: Changes to the README's training configuration so that a block trains for seconds, not an hour.
TRAINING_OVERRIDES = {"training.epochs": 1, "training.verbose": 0, "data.limit": 128, "data.validation_limit": 64}
#: Field points over the chip: enough for a stratified held-out split, few enough to train 100 epochs in seconds.
FIELD_POINTS = 400
#: HLS band -> the band name the blocks use: Sentinel-2's name for the same band where there is one; there is no
#: Sentinel-1 or elevation data here, so the coastal and the two thermal bands stand in for VV, VH and the DEM.
EXPORT_BAND_NAMES = {"coastal": "VV", "blue": "B2", "green": "B3", "red": "B4", "nir": "B8", "swir1": "B11",
                     "swir2": "B12", "cirrus": "B10", "tir1": "VH", "tir2": "elevation"}
PATCH_SIZE = 64
#: Training patches overlap by half (36 patches from the chip), as a sampled export would; scenes tile the chip.
TRAINING_STRIDE = 32
#: What geotiff_to_ee_patches writes beside the patches and Earth Engine does not: removed.
NOT_WRITTEN_BY_EARTH_ENGINE = ("band_stats.json", "{prefix}.json")


@dataclass(frozen=True)
class EeExport:
    """One Earth Engine export that a block reads: ``<url><prefix>-NNNNN.tfrecord.gz``.

    With a ``label``, training patches (``Export.table``: overlapping whole patches, the label as a band, no
    mixer); without, a scene (``Export.image``: a grid of patches with a ``kernel_size`` buffer and a mixer).
    """

    url: str
    prefix: str
    label: str | None = None
    kernel_size: int = 0

    @property
    def folder(self) -> str:
        """The export's folder in the working folder."""
        return substitute(self.url)


EE_EXPORTS = (
    EeExport("gs://bucket/patches/", "train", label="landcover"),
    EeExport("gs://bucket/scene/", "scene", kernel_size=32),
    EeExport("gs://my-bucket/rskeras/patches/", "landcover64_train", label="label"),
    EeExport("gs://my-bucket/rskeras/scenes/", "scene_2023", kernel_size=32),
)
#: The table export of pixel samples a block trains the ANN on, and the bands it holds.
SAMPLE_TABLE = "gs://bucket/samples/landcover_pixels_train.tfrecord.gz"
SAMPLE_BANDS = ["B2", "B3", "B4", "B8", "B11", "B12"]
#: model file -> the export bands it reads (the models a reader would have trained).
MODELS = {"unet.keras": ["B2", "B3", "B4", "B8"],
          "unet_landcover64.keras": ["B2", "B3", "B4", "B8", "B11", "B12", "VV", "VH", "elevation"],
          "landcover.keras": ["blue", "green", "red", "nir"]}  # scene.tif's own band names (HLS L30)


def substitute(text: str) -> str:
    """``text`` with :data:`SUBSTITUTIONS` applied."""
    for old, new in SUBSTITUTIONS.items():
        text = text.replace(old, new)
    return text


def land_cover_raster(scene: Path, dst: Path) -> Path:
    """The demo's land-cover classes (NDVI thresholds) for every pixel of ``scene``, as a one-band raster."""
    with rasterio.open(scene) as src:
        red, nir = src.read(4).astype(float), src.read(5).astype(float)
        profile = src.profile | {"count": 1, "dtype": "uint8", "nodata": None}
    classes = np.digitize(np.nan_to_num(ndvi(nir, red)), LAND_COVER["thresholds"]).astype("uint8")
    with rasterio.open(dst, "w", **profile) as out:
        out.write(classes, 1)
    return dst


def write_ee_export(scene: Path, labels: Path, folder: Path, export: EeExport) -> None:
    """Write ``export`` from ``scene`` (and its ``labels``) as Earth Engine would have written it."""
    out = folder / export.folder
    names = [EXPORT_BAND_NAMES[band] for band in SENSORS["hls_l30"].bands]
    if export.label:
        geotiff_to_ee_patches(scene, out, PATCH_SIZE, stride=TRAINING_STRIDE, band_names=names, label_raster=labels,
                              label_name=export.label, max_nodata_fraction=0.0, prefix=export.prefix)
    else:
        geotiff_to_ee_patches(scene, out, PATCH_SIZE, kernel_size=export.kernel_size, band_names=names,
                              max_nodata_fraction=1.0, prefix=export.prefix)
    for name in NOT_WRITTEN_BY_EARTH_ENGINE:
        (out / name.format(prefix=export.prefix)).unlink()


def write_sample_export(scene: Path, points: Path, folder: Path, root: Path) -> None:
    """:data:`SAMPLE_TABLE`: ``scene`` sampled at ``points``, its bands named as the exports name them."""
    named = root / "scene_export_bands.tif"
    shutil.copy(scene, named)
    with rasterio.open(named, "r+") as ds:
        ds.descriptions = tuple(EXPORT_BAND_NAMES[band] for band in SENSORS["hls_l30"].bands)
    write_sample_table(named, points, folder / substitute(SAMPLE_TABLE), "land_cover", bands=SAMPLE_BANDS,
                       class_names=LAND_COVER["names"])


def write_models(folder: Path) -> None:
    """The :data:`MODELS` files: small U-Nets over the land-cover classes."""
    from rskeras.models import unet

    for name, bands in MODELS.items():
        model = unet((None, None, len(bands)), task="multiclass", depth=2, filters=4, band_names=bands,
                     class_names=LAND_COVER["names"], name=Path(name).stem)
        model.save(folder / name)


def training_config(block: str) -> dict:
    """The README's training configuration ``block`` with :data:`TRAINING_OVERRIDES` applied."""
    config = yaml.safe_load(block)
    for key, value in TRAINING_OVERRIDES.items():
        section, option = key.split(".")
        config[section][option] = value
    return config


def command_shims(folder: Path) -> Path:
    """A ``bin/`` folder whose ``python`` and ``rskeras`` run this interpreter on this checkout."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, command in {"python": sys.executable, "rskeras": f"{sys.executable} -m rskeras.cli"}.items():
        shim = folder / name
        shim.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        shim.chmod(0o755)
    return folder


def prepare_folder(root: Path, shared_data: Path, training_block: str) -> Path:
    """Build the working folder ``root/work`` (beside ``root/shared/data``); returns it."""
    (root / "shared").mkdir(parents=True)
    (root / "shared" / "data").symlink_to(shared_data)
    work = root / "work"
    work.mkdir()
    (work / "pipelines").symlink_to(REPO / "pipelines")
    scene = Path(shutil.copy(shared_data / "rasters" / "hls_10band_224.tif", work / "scene.tif"))
    make_field_points(scene, work / "field.csv", n=FIELD_POINTS, seed=0)
    (work / TRAINING_CONFIG).write_text(yaml.safe_dump(training_config(training_block), sort_keys=False))
    labels = land_cover_raster(scene, root / "land_cover_labels.tif")
    shutil.copy(labels, work / "scene_labels.tif")  # the label raster of "More than one machine"
    for export in EE_EXPORTS:
        write_ee_export(scene, labels, work, export)
    write_sample_export(scene, work / "field.csv", work, root)
    write_models(work)
    return work


def copy_folder(template: Path, root: Path) -> Path:
    """A fresh copy of a prepared folder (``template`` is a ``.../work`` of :func:`prepare_folder`) under ``root``."""
    (root / "shared").mkdir(parents=True)
    (root / "shared" / "data").symlink_to(os.readlink(template.parent / "shared" / "data"))
    return Path(shutil.copytree(template, root / "work", symlinks=True))
