"""Table exports of pixel samples: what ``image.sampleRegions(points, [label])`` exported with
``Export.table.toDrive`` / ``toCloudStorage(fileFormat='TFRecord')`` writes, written and read back.

Earth Engine writes a table export as exactly one GZIP-compressed TFRecord file with one
``tf.train.Example`` per feature; every numeric property (each sampled band and the label) is a
``float_list`` of one value (Earth Engine coerces all exported numbers to float, class codes
included). In rskeras' patch layout these are 1x1 patches, which :func:`~rskeras.data.ee_patch_dataset`
reads with ``patch_size=1``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from rskeras.data.ee_records.layout import write_ee_patches
from rskeras.data.ee_records.patches import ee_patch_dataset
from rskeras.data.labels import encode_labels
from rskeras.data.points import Points, read_points
from rskeras.data.sampling import sample_raster

#: What Earth Engine names a compressed table export.
TABLE_SUFFIX = ".tfrecord.gz"


@dataclass(frozen=True)
class SampleTable:
    """What :func:`write_sample_table` wrote.

    Attributes:
        path: the TFRecord file.
        n_features: records written (points on valid pixels).
        bands: the band properties, in the order sampled.
        label: the label property.
        class_names: the class of each code ``0, 1, ...`` for text labels, else None.
        n_dropped: points outside the raster or on nodata (``sampleRegions`` drops them too).
    """

    path: str
    n_features: int
    bands: list[str]
    label: str
    class_names: list[str] | None
    n_dropped: int


def write_sample_table(
    raster: str | os.PathLike,
    points: Points | str | os.PathLike,
    dst: str | os.PathLike,
    label: str,
    *,
    bands: Sequence[int | str] | None = None,
    sensor: str | None = None,
    class_names: Sequence[str] | None = None,
) -> SampleTable:
    """Sample ``raster`` at ``points`` and write the table export Earth Engine's ``sampleRegions`` would.

    Args:
        raster: the image (points are reprojected to its CRS).
        points: field data, or a path for :func:`rskeras.data.read_points`.
        dst: the TFRecord to write, ``*.tfrecord.gz`` (Earth Engine compresses table exports).
        label: the points' column exported as the label property. Numbers are written as they are; text
            labels become the codes ``0, 1, ...`` of ``class_names`` (sorted labels when None), as one
            remaps classes to consecutive integers before exporting from Earth Engine.
        bands, sensor: the raster bands to sample, as for :func:`rskeras.data.sample_raster`.

    Raises:
        ValueError: ``dst`` not ``*.tfrecord.gz``, a label outside ``class_names``, no point on a valid pixel.
    """
    if not os.fspath(dst).endswith(TABLE_SUFFIX):
        raise ValueError(f"Earth Engine writes table exports as GZIP TFRecords named *{TABLE_SUFFIX}; got {os.fspath(dst)}")
    points = points if isinstance(points, Points) else read_points(points)
    samples = sample_raster(raster, points, bands=bands, label=label, sensor=sensor)
    if not len(samples):
        raise ValueError(f"none of the {samples.n_total} points of {points.source or 'the points'} lies on a valid "
                         f"pixel of {samples.source}")
    codes, names = _label_codes(samples.labels, label, class_names)
    write_ee_patches(dst, samples.values[:, None, None, :], samples.band_names, {label: codes}, compression="GZIP")
    return SampleTable(os.fspath(dst), len(samples), list(samples.band_names), label, names,
                       samples.n_outside + samples.n_nodata)


def _label_codes(labels: np.ndarray, label: str, class_names: Sequence[str] | None) -> tuple[np.ndarray, list | None]:
    """Numeric labels as float32; text labels as the float codes of their classes, with the class names."""
    try:
        return labels.astype(np.float32), None
    except ValueError:
        encoded = encode_labels(labels, "multiclass", class_names=list(class_names) if class_names else None,
                                field=label)
        return encoded.y.astype(np.float32), encoded.class_names


def read_sample_table(
    files, bands: Sequence[str], label: str | None = None, compression: str | None = "auto"
) -> tuple[np.ndarray, np.ndarray | None]:
    """A table export of pixel samples as arrays: ``(n, bands)`` float32 values in ``bands``' order and the
    ``(n,)`` float32 labels (None without ``label``). ``files``: a file, pattern or list, local or ``gs://``.

    Raises:
        KeyError: a band or the label is not a property of the records (the message lists those they hold).
        ValueError: the records are patches rather than one value per property.
    """
    dataset = ee_patch_dataset(files, list(bands), label=label, patch_size=1, batch_size=4096, ordered=True,
                               compression=compression)
    values, labels = [np.zeros((0, len(bands)), np.float32)], [np.zeros(0, np.float32)]
    for batch in dataset:
        images = batch if label is None else batch[0]
        values.append(images.numpy().reshape(-1, len(bands)))
        if label is not None:
            labels.append(batch[1].numpy().reshape(-1))
    return np.concatenate(values), np.concatenate(labels) if label is not None else None
