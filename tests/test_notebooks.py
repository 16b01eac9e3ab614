"""Execute every Colab notebook in colab/ top to bottom, in fast mode (RSKERAS_FAST=1).

Each notebook runs in a fresh IPython kernel started with this interpreter (a kernel spec
written into a temporary JUPYTER_PATH, so no kernel needs to be installed), with colab/ as
the working directory, outputs written to a temporary folder (RSKERAS_OUTPUTS), a time limit
per cell, and fails on the first cell that raises. The notebooks are committed without
outputs; this test also checks that.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the 'test' extra: pip install -e '.[test]'")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in the 'test' extra: pip install -e '.[test]'")
pytest.importorskip("ipykernel", reason="ipykernel is in the 'test' extra: pip install -e '.[test]'")

COLAB = Path(__file__).resolve().parents[1] / "colab"
NOTEBOOKS = (
    "01_neural_network_basics",
    "02_ann_pixel_classification",
    "03_cnn_eurosat",
    "04_transfer_learning",
    "05_landcover_segmentation",
    "06_sar_to_ndvi_unet",
    "07_building_height_m3net",
    "08_earth_engine_to_tf_serving",
    "09_your_own_rasters",
)
KERNEL_NAME = "rskeras-notebook-test"
CELL_TIMEOUT_S = 300  # per cell; a whole notebook in fast mode takes well under a minute


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory) -> Path:
    """A JUPYTER_PATH folder holding a kernel spec that starts ipykernel with this Python."""
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"rskeras test ({sys.executable})",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return root


def test_notebook_list_matches_folder():
    """Every notebook in colab/ is tested, and every tested notebook exists."""
    assert sorted(p.stem for p in COLAB.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs(name):
    nb = nbformat.read(COLAB / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cells"
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{name}.ipynb is committed with outputs in cells {dirty}; clear them"
    assert "google.colab" in code[0].source and "git+https://github.com/rskeras/rskeras" in code[0].source, (
        f"{name}: the first code cell must install rskeras on Colab"
    )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, kernel_path, tmp_path, monkeypatch, shared_data):
    """The notebook executes without error in fast mode on the real data."""
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.setenv("RSKERAS_FAST", "1")
    monkeypatch.setenv("RSKERAS_DATA", str(shared_data))
    monkeypatch.setenv("RSKERAS_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    nb = nbformat.read(COLAB / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_S,
        startup_timeout=120,
        allow_errors=False,
        resources={"metadata": {"path": str(COLAB)}},
    )
    before = sorted(p.name for p in COLAB.iterdir())
    start = time.perf_counter()
    client.execute()
    print(f"{name}: {time.perf_counter() - start:.1f} s")
    images = sum(
        1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    )
    assert images >= 1, f"{name} showed no figure"
    added = sorted(set(p.name for p in COLAB.iterdir()) - set(before))
    assert not added, f"{name} wrote {added} into colab/; notebooks write their outputs under $RSKERAS_OUTPUTS"
