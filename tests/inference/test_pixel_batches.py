"""The pixel path's pieces: full batches across windows, XLA with one batch shape, compiled calls kept per model,
and pixel-interleaved reads."""

from __future__ import annotations

import gc
import weakref

import keras
import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from rskeras.inference import runner as runner_module
from rskeras.inference.pixel import FullBatches
from rskeras.inference.runner import ModelRunner
from rskeras.inference.sources import Source
from rskeras.models import ann
from rskeras.tasks import get_task


class RecordingRunner:
    """Predicts ``(x1 + x2).sum(axis=1)`` and 2x that per row, recording each call's rows."""

    def __init__(self):
        self.calls = []

    def __call__(self, inputs, batch_size):
        self.calls.append(len(inputs[0]))
        total = (inputs[0] + inputs[1]).sum(axis=1)
        return np.stack([total, 2 * total], axis=1).astype(np.float32)


def test_full_batches_span_windows_and_hand_each_window_its_own_rows():
    rng = np.random.default_rng(0)
    sizes = [0, 5, 3, 10, 0, 7, 1]
    items = [[rng.random((n, 3), dtype=np.float32), rng.random((n, 3), dtype=np.float32)] for n in sizes]
    runner = RecordingRunner()
    batches = FullBatches(runner, batch_size=4, n_channels=2)

    done = []
    for key, rows in enumerate(items):
        done += batches.add(rows, key)
    done += batches.finish()

    assert [key for _, key in done] == list(range(len(sizes)))  # every window, in order, zero-pixel ones too
    assert runner.calls == [4] * 6 + [2]  # 26 rows: full calls, one shorter last call
    for (pred, key), (x1, x2) in zip(done, items):
        expected = (x1 + x2).sum(axis=1)
        np.testing.assert_allclose(pred, np.stack([expected, 2 * expected], axis=1), rtol=1e-6)
    assert not batches.predicted and not batches.waiting and batches.n_queued == batches.n_predicted == 0


def test_pixel_models_run_with_xla_on_one_batch_shape_and_stay_compiled_with_the_model():
    model = ann((4,), task="multiclass", n_outputs=3, hidden=(8,))
    x = np.random.default_rng(1).random((10, 4), dtype=np.float32)
    expected = np.asarray(model(x, training=False))

    runner = ModelRunner(model)
    compiled, shapes = runner._call, []
    runner._call = lambda *inputs: shapes.append(inputs[0].shape) or compiled(*inputs)
    np.testing.assert_allclose(runner([x], batch_size=4), expected, rtol=1e-5, atol=1e-6)
    assert runner.jit_compile and shapes == [(4, 4)] * 3  # 4 + 4 + 2 rows, the last call padded: one XLA shape
    assert ModelRunner(model)._call is compiled  # a second prediction with the model traces nothing

    image = keras.Input((None, None, 2))
    conv = keras.Model(image, keras.layers.Conv2D(2, 3, padding="same")(image))
    assert not ModelRunner(conv).jit_compile  # oneDNN's convolutions beat XLA's on CPU

    kept = len(runner_module._COMPILED)  # models of other tests in this process may be kept too
    models = [weakref.ref(model), weakref.ref(conv)]
    del model, runner, conv
    gc.collect()
    assert [m() for m in models] == [None, None]  # the kept functions do not keep models alive
    assert len(runner_module._COMPILED) <= kept - 2  # and their entries went with them


@pytest.mark.parametrize("task,n_outputs", [("multiclass", 5), ("binary", 1), ("multilabel", 3)])
def test_a_decoding_runner_computes_the_tasks_classes_in_its_compiled_call(task, n_outputs):
    model = ann((4,), task=task, n_outputs=n_outputs, hidden=(8,))
    x = 3 * np.random.default_rng(3).normal(size=(10, 4)).astype(np.float32)
    runner = ModelRunner(model)
    expected = get_task(task).decode(runner([x], batch_size=4))  # numpy's decoding of the probabilities
    expected = expected if task == "multilabel" else expected[:, None]

    decoding = runner.decoding()
    classes = decoding([x], batch_size=4)
    assert classes.dtype == np.float32 and classes.shape == expected.shape == (10, *decoding.spec.output_shape)
    np.testing.assert_array_equal(classes, expected)
    assert decoding.jit_compile and decoding._call is not runner._call
    assert ModelRunner(model, decode=True)._call is decoding._call  # kept with the model too
    assert decoding.decoding() is None and decoding.spec.task == task
    with pytest.raises(ValueError, match="no stochastic passes"):
        decoding([x], batch_size=4, stochastic=True)


def test_models_without_classes_have_no_decoding_runner():
    model = ann((4,), task="regression", n_outputs=2, hidden=(8,))
    assert ModelRunner(model).decoding() is None
    with pytest.raises(ValueError, match="has no classes to decode \\(task 'regression'\\)"):
        ModelRunner(model, decode=True)


def test_read_pixels_equals_read_transposed(hls_path, tmp_path):
    """Pixel-interleaved reads give read()'s values and nodata, with the raster's nodata, NaN and an extra value."""
    path = tmp_path / "holes.tif"
    with rasterio.open(hls_path) as ds:
        profile, data = ds.profile, ds.read()
    data[3, 10:20, 30:45] = -9999
    data[1, 50, 60] = np.nan
    data[2, 70, 70:75] = 42.0
    with rasterio.open(path, "w", **profile) as out:
        out.write(data)
    window = Window(5, 8, 100, 90)
    with rasterio.open(path) as ds:
        for nodata in (None, 42.0):
            src = Source(path, ds, [4, 2, 3], ["red", "blue", "green"], nodata)
            values, invalid = src.read(window)
            pixels, pixel_invalid = src.read_pixels(window)
            assert pixels.shape == (90 * 100, 3) and pixels.dtype == np.float32
            np.testing.assert_array_equal(pixel_invalid, invalid)
            np.testing.assert_array_equal(pixels, values.reshape(3, -1).T)
            assert invalid.sum() == 150 + 1 + (5 if nodata else 0)


class NumpyDouble(keras.layers.Layer):
    """Doubles its input through ``tf.numpy_function``: an op XLA cannot compile."""

    def call(self, x):
        import tensorflow as tf

        return tf.ensure_shape(tf.numpy_function(lambda a: 2 * a, [x], tf.float32), x.shape)


def test_a_pixel_model_xla_cannot_compile_predicts_without_it_with_a_warning():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(NumpyDouble()(inputs)))
    x = np.random.default_rng(2).random((5, 3), dtype=np.float32)
    expected = np.asarray(model(x))

    runner = ModelRunner(model)
    with pytest.warns(UserWarning, match="does not run under XLA"):
        np.testing.assert_allclose(runner([x], batch_size=4), expected, rtol=1e-6)
    assert not runner.jit_compile and not ModelRunner(model).jit_compile  # the model keeps the fallback
    np.testing.assert_allclose(ModelRunner(model)([x], batch_size=4), expected, rtol=1e-6)


def test_the_default_batch_is_capped_at_the_scene_and_lowered_to_fit_memory(hls_path, tmp_path):
    """A scene smaller than the default batch is one call of its own size (no padding to 262,144 rows); under a
    memory limit the batch, which every call now gets whatever the window, is lowered with a note."""
    from rskeras.inference import predict_raster

    model = ann((10,), task="multiclass", n_outputs=3)
    assert predict_raster(model, hls_path, tmp_path / "a.tif", progress=False).batch_size == 224 * 224
    with pytest.warns(UserWarning, match="batch_size lowered from 50176 to"):
        result = predict_raster(model, hls_path, tmp_path / "b.tif", max_memory="120MB", progress=False)
    assert 0 < result.batch_size < 224 * 224


def test_a_vrt_whose_bands_differ_in_dtype_predicts_like_its_source(labels_dir, tmp_path):
    """rasterio reads one dtype per call: a VRT of an int16 and a float32 band is read band by band, as float32,
    and maps as the same bands in one GeoTIFF do."""
    from rskeras.inference import predict_raster

    src = labels_dir / "landsat7_1999_stack.tif"
    bands = "".join(f'<VRTRasterBand dataType="{kind}" band="{b}"><NoDataValue>-9999</NoDataValue><SimpleSource>'
                    f"<SourceFilename>{src}</SourceFilename><SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>"
                    for b, kind in ((1, "Int16"), (2, "Float32")))
    vrt = tmp_path / "mixed.vrt"
    vrt.write_text(f'<VRTDataset rasterXSize="250" rasterYSize="250">{bands}</VRTDataset>')
    with rasterio.open(src) as ds:
        profile, reference = ds.profile, ds.read([1, 2])
    plain = tmp_path / "two_bands.tif"
    with rasterio.open(plain, "w", **{**profile, "count": 2}) as out:
        out.write(reference)

    with pytest.warns(rasterio.errors.NotGeoreferencedWarning), rasterio.open(vrt) as ds:
        src_vrt = Source(vrt, ds, [1, 2], ["a", "b"])
        values, invalid = src_vrt.read(Window(0, 0, 250, 250))
        pixels, pixel_invalid = src_vrt.read_pixels(Window(0, 0, 250, 250))
    assert src_vrt.dtype == np.float32
    np.testing.assert_array_equal(values, reference.astype(np.float32))
    np.testing.assert_array_equal(pixels, reference.reshape(2, -1).T.astype(np.float32))
    np.testing.assert_array_equal(invalid, (reference == -9999).any(axis=0))
    np.testing.assert_array_equal(pixel_invalid, invalid)

    model = ann((2,), task="multiclass", n_outputs=3)
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        predict_raster(model, vrt, tmp_path / "from_vrt.tif", progress=False)
    predict_raster(model, plain, tmp_path / "from_tif.tif", progress=False)
    with rasterio.open(tmp_path / "from_vrt.tif") as a, rasterio.open(tmp_path / "from_tif.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
