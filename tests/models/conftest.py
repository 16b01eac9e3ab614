"""Fixtures shared by the model tests."""

import keras
import numpy as np
import pytest

from tests.models.helpers import hls_chips


@pytest.fixture(params=["mixed_float16", "mixed_bfloat16"])
def mixed_policy(request):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy(previous)


@pytest.fixture(scope="module")
def land_cover(hls_path):
    """Real 10-band HLS chips and three land-cover classes from NDVI thresholds (< 0.3, 0.3-0.4, >= 0.4)."""
    chips = hls_chips(hls_path, size=32, count=8)
    red, nir = chips[..., 3], chips[..., 4]
    ndvi = (nir - red) / np.maximum(nir + red, 1.0)
    classes = np.digitize(ndvi, [0.3, 0.4]).astype("int32")[..., None]
    assert len(np.unique(classes)) == 3
    return chips, classes
