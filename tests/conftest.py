"""Shared fixtures: the real data in ../shared/data, skipped with a reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RSKERAS_FAST", "1")

import pytest  # noqa: E402

import rskeras  # noqa: E402,F401  (sets TensorFlow's environment before it is imported)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RSKERAS_SHARED_DATA", REPO.parent / "shared" / "data"))


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (the shared data folder sits beside the repository in CI)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder."""
    return _require(SHARED_DATA)


@pytest.fixture(scope="session")
def hls_path() -> Path:
    """Real 10-band HLS L30 chip, 224x224 px at 30 m, float32 reflectance x 10,000, nodata -9999."""
    return _require(SHARED_DATA / "rasters" / "hls_10band_224.tif")


@pytest.fixture(scope="session")
def landsat_path() -> Path:
    """Real Landsat 7 ETM+ RGB subset, 3 bands uint8, 791x718 px, nodata 0 around the edge."""
    return _require(SHARED_DATA / "rasters" / "landsat7_rgb_byte.tif")


@pytest.fixture(scope="session")
def eurosat_dir() -> Path:
    """Real EuroSAT RGB folder with train.csv, validation.csv and label_map.json."""
    return _require(SHARED_DATA / "eurosat_rgb")


@pytest.fixture(scope="session")
def labels_dir() -> Path:
    """Real Landsat 7 stacks with a training-label raster (uint8, nodata 0, classes 1-5) on one 250x250 px grid."""
    return _require(SHARED_DATA / "labels")
