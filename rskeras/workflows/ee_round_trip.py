"""The Earth Engine round trip in one call: an image export in, upload-ready predictions out."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import keras

from rskeras.data.ee_records.scene import (
    OUTPUTS,
    check_prediction_outputs,
    locate_export,
    output_band_names,
    predict_scene,
    read_scene_export,
    resolve_output,
)
from rskeras.inference.runner import load_model, select_output
from rskeras.models.metadata import check_input_contract, model_metadata

#: How Earth Engine should build an uploaded band's pyramid: the most common class, or the mean.
PYRAMIDING = {"classes": "MODE", "probabilities": "MEAN", "values": "MEAN"}


def _inputs(model, files, paths: list[str], mixer) -> list[str]:
    """What ``predict_ee_export`` reads (the patterns too), which its outputs must neither be nor match."""
    sources = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    sources += paths + [m for m in (model, mixer) if isinstance(m, (str, os.PathLike))]
    return [os.fspath(p) for p in sources]


def model_bands(model: keras.Model) -> list[str] | dict[str, list[str]] | None:
    """The export bands ``model`` reads, from its normalisation layers: a list, ``{input: bands}`` for several
    inputs, or None when the model does not name them."""
    names = model_metadata(model).band_names
    if not names or any(n is None for n in names):
        return None
    if len(names) == 1:
        return list(names[0])
    return {tensor.name: list(n) for tensor, n in zip(model.inputs, names)}


def upload_settings(model: keras.Model | str | os.PathLike, output: str = "auto", model_output: str | None = None) -> dict:
    """The ``bands`` and ``pyramiding_policy`` of ``pipelines/upload_predictions.yaml`` for what
    :func:`predict_ee_export` writes with ``output``: class bands are whole numbers pyramided by ``MODE``,
    probabilities and values by ``MEAN``."""
    model = select_output(load_model(model), model_output)
    output = resolve_output(model, output)
    return {"bands": output_band_names(model, output), "pyramiding_policy": PYRAMIDING[output]}


def predict_ee_export(
    model: keras.Model | str | os.PathLike,
    files,
    dst: str | os.PathLike,
    bands: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    *,
    kernel_size: int | Sequence[int] = 0,
    mixer: str | os.PathLike | None = None,
    output: str = "auto",
    model_output: str | None = None,
    overlap: int = 0,
    batch_size: int = 8,
    compression: str | None = "auto",
) -> tuple[str, str]:
    """Predict an Earth Engine image export and write the TFRecord + mixer.json Earth Engine uploads.

    Args:
        model: a Keras model (or a ``.keras`` path) of any kind, taking raw values of ``bands``: a pixel
            model (every pixel of every patch), a patch classifier (cells of its patch size, see
            ``overlap``) or a dense model (the whole buffered patch), with one or several inputs.
        files: the export's TFRecord files (pattern or list), in Earth Engine's naming order.
        dst: the prediction TFRecord (``.tfrecord`` or ``.tfrecord.gz``); its mixer is written beside it.
        bands: the export's bands the model reads, in the model's channel order, or ``{input: bands}`` for
            a model with several inputs; default: the band names the model holds.
        kernel_size: the export's ``kernelSize`` (the buffer is cropped from the predictions).
        mixer: the export's ``mixer.json``; found beside the files when None.
        output: ``"classes"`` (one band ``class`` of class indexes; one 0/1 band per label for multilabel),
            ``"probabilities"`` (one band per class), ``"values"`` (regression); ``"auto"``: classes for
            classification, else values. :func:`upload_settings` gives the upload's bands and pyramiding.
        model_output: which output of a multi-output model (e.g. M3Net's ``"height"``).
        overlap: patch classifiers only: cells of ``patch side - overlap`` pixels, each predicted from the
            window centred on it (``patch side - 1``: every pixel; needs a ``kernelSize`` of about the
            overlap for real neighbours at the patch edges, which are mirrored otherwise).
        batch_size: patches per model call.
        compression: ``"auto"``: GZIP exactly when ``dst`` ends in ``.gz``; ``"GZIP"`` or None must agree.

    Returns:
        ``(tfrecord path, mixer.json path)``, patches in the export's order, without buffer.

    Raises:
        BandError: ``bands`` are not the model's band names in its order (both lists named); values far
            outside the model's training ranges in the first patches give an ``InputRangeWarning``.
        ValueError: before any work, for an output that is an input (the export's records, its mixer,
            the model), matches the input pattern or is not ``*.tfrecord[.gz]``; then for a model or
            an export that does not fit (see :func:`~rskeras.data.read_scene_export`), a truncated
            export file (named), or fewer patches than the mixer says (nothing is written).
    """
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")
    paths, mixer = locate_export(files, mixer)
    check_prediction_outputs(dst, None, _inputs(model, files, paths, mixer), compression)
    model = select_output(load_model(model), model_output)
    bands = bands if bands is not None else model_bands(model)
    if bands is None:
        raise ValueError(f"model {model.name!r} does not name its input bands: give bands= (the export's bands it "
                         "reads, in its channel order)")
    scene = read_scene_export(paths, bands, mixer=mixer, kernel_size=kernel_size)
    _check_contract(model, scene, bands, paths[0])
    return predict_scene(model, scene, dst, batch_size=batch_size, compression=compression, output=output,
                         overlap=overlap)


def _check_contract(model: keras.Model, scene, bands: Sequence[str] | Mapping[str, Sequence[str]], source: str) -> None:
    """The export's bands and first patches against the model's input contract (bands by name, value ranges)."""
    sample = scene.sample()
    if isinstance(bands, Mapping):  # inputs missing from bands are named by predict_scene
        names = [tensor.name for tensor in model.inputs]
        check_input_contract(model, [sample.get(n) for n in names],
                             bands=[list(bands[n]) if n in bands else None for n in names], sources=[source] * len(names))
    else:
        check_input_contract(model, [sample], bands=[list(bands)], sources=[source])
