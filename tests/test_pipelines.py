"""pipelines/ --dry-run: the export and upload requests, built offline without credentials."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rskeras.ee_export.splits import assign_grid_splits

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


def dry_run(script: str, config: dict | None = None, tmp_path: Path | None = None) -> dict:
    cmd = [sys.executable, str(PIPELINES / f"{script}.py"), "--dry-run"]
    if config is not None:
        path = tmp_path / f"{script}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd += ["--config", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_training_patches_dry_run(tmp_path):
    cfg = yaml.safe_load((PIPELINES / "export_training_patches.yaml").read_text())
    out = dry_run("export_training_patches", cfg, tmp_path)
    s = out["summary"]
    bands = cfg["sentinel2_bands"] + ["VV", "VH", "elevation"]
    assert out["dry_run"] and s["bands"] == bands and s["selectors"] == bands + ["label", "class"]
    assert set(s["splits"]) == {"train", "validation", "test"}
    cells = [tuple(b) for split in s["splits"].values() for b in split["cell_bounds"]]
    assert len(cells) == len(set(cells)) == 30  # 0.6 x 0.5 deg in 0.1 deg cells, each cell in one split
    assert [s["splits"][k]["cells"] for k in ("train", "validation", "test")] == [21, 5, 4]
    assert s["guard_margin_deg"]["lat"] == pytest.approx(32 * 10 / 111320)
    tasks = out["tasks"]
    assert [t["config"]["description"] for t in tasks] == ["landcover64_train", "landcover64_validation", "landcover64_test"]
    for t in tasks:
        assert t["task_type"] == "EXPORT_FEATURES"
        assert t["config"]["fileExportOptions"]["fileFormat"] == "TF_RECORD_TABLE"
        assert t["config"]["fileExportOptions"]["cloudStorageDestination"]["bucket"] == "my-bucket"
        assert t["config"]["selectors"] == s["selectors"]
        for algorithm in ("Image.neighborhoodToArray", "Image.stratifiedSample", "Kernel.fixed", "ImageCollection.load"):
            assert algorithm in t["algorithms"]


def test_training_patches_center_label_to_drive(tmp_path):
    cfg = yaml.safe_load((PIPELINES / "export_training_patches.yaml").read_text())
    cfg["label"] = {"source": "feature_collection", "asset": "projects/p/assets/fields", "property": "crop", "name": "crop", "mode": "center"}
    cfg["inputs"] = ["sentinel2"]
    cfg["output"] = {"destination": "drive", "folder": "rskeras", "prefix": "crops"}
    out = dry_run("export_training_patches", cfg, tmp_path)
    assert out["summary"]["selectors"] == cfg["sentinel2_bands"] + ["crop"]
    t = out["tasks"][0]
    assert t["config"]["fileExportOptions"]["driveDestination"]["folder"] == "rskeras"
    assert "Image.paint" in t["algorithms"]


def test_training_patches_ndvi_target_is_sampled_without_classes(tmp_path):
    cfg = yaml.safe_load((PIPELINES / "export_training_patches_ndvi.yaml").read_text())
    out = dry_run("export_training_patches", cfg, tmp_path)
    s = out["summary"]
    assert s["bands"] == ["VV", "VH", "elevation"] and s["selectors"] == ["VV", "VH", "elevation", "ndvi"]
    assert {k: v["samples"] for k, v in s["splits"].items()} == {"train": 2000, "validation": 400, "test": 400}
    assert s["read_with"] == "rskeras.data.ee_patch_dataset(files, bands=['VV', 'VH', 'elevation'], label='ndvi', patch_size=128)"
    for t in out["tasks"]:
        assert "Image.normalizedDifference" in t["algorithms"] and "Image.sample" in t["algorithms"]
        assert "Image.stratifiedSample" not in t["algorithms"]
    cfg["label"]["source"] = "landsat"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, str(PIPELINES / "export_training_patches.py"), "--dry-run", "--config", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "unknown label source 'landsat'" in proc.stderr and "ndvi" in proc.stderr


def test_pixel_samples_dry_run_is_a_sample_regions_table_per_split(tmp_path):
    cfg = yaml.safe_load((PIPELINES / "export_pixel_samples.yaml").read_text())
    out = dry_run("export_pixel_samples", cfg, tmp_path)
    s = out["summary"]
    assert s["selectors"] == cfg["sentinel2_bands"] + ["landcover"] and s["points"] == cfg["points"]["asset"]
    assert [s["splits"][k]["cells"] for k in ("train", "validation", "test")] == [21, 5, 4]  # the patch grid's cells
    assert s["read_with"] == ("rskeras.workflows.train_pixel_model(files, label='landcover', "
                              "bands=['B2', 'B3', 'B4', 'B8', 'B11', 'B12'])")
    for task, split in zip(out["tasks"], ("train", "validation", "test")):
        assert task["task_type"] == "EXPORT_FEATURES" and task["config"]["description"] == f"landcover_pixels_{split}"
        assert task["config"]["fileExportOptions"]["fileFormat"] == "TF_RECORD_TABLE"
        assert task["config"]["selectors"] == s["selectors"]
        for algorithm in ("Image.sampleRegions", "Collection.loadTable", "Filter.intersects"):
            assert algorithm in task["algorithms"]
        assert "Image.neighborhoodToArray" not in task["algorithms"]  # one pixel per record, not a patch
    del cfg["points"]["property"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, str(PIPELINES / "export_pixel_samples.py"), "--dry-run", "--config", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "lacks the setting 'points.property'" in proc.stderr


def test_scene_dry_run_format_options():
    out = dry_run("export_scene")
    s = out["summary"]
    assert s["formatOptions"] == {"patchDimensions": [256, 256], "kernelSize": [32, 32], "compressed": True, "maxFileSize": 104857600}
    assert s["stored_patch"] == [288, 288]
    (task,) = out["tasks"]
    opts = task["config"]["fileExportOptions"]
    assert task["task_type"] == "EXPORT_IMAGE" and opts["fileFormat"] == "TF_RECORD_IMAGE"
    assert opts["tfRecordOptions"] == {
        "tileDimensions": {"width": 256, "height": 256},
        "marginDimensions": {"width": 32, "height": 32},
        "compress": True,
        "maxSizeBytes": {"value": "104857600"},
    }


def test_upload_dry_run_manifest(tmp_path):
    out = dry_run("upload_predictions")
    manifest = out["tasks"][0]["config"]["manifest"]
    assert manifest["name"] == "projects/my-ee-project/assets/rskeras/landcover_2023"
    (tileset,) = manifest["tilesets"]
    assert tileset["sources"] == [{"uris": ["gs://my-bucket/rskeras/predictions/scene_2023.tfrecord", "gs://my-bucket/rskeras/predictions/scene_2023-mixer.json"]}]
    assert manifest["bands"] == [{"id": "landcover", "tilesetId": "ts", "tilesetBandIndex": 0}]
    cfg = yaml.safe_load((PIPELINES / "upload_predictions.yaml").read_text())
    cfg["mixer"] = "/local/mixer.json"
    cmd = [sys.executable, str(PIPELINES / "upload_predictions.py"), "--dry-run", "--config", str(tmp_path / "u.yaml")]
    (tmp_path / "u.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "not gs:// URLs: ['/local/mixer.json']" in proc.stderr


def test_grid_splits_are_reproducible_and_complete():
    a = assign_grid_splits([0, 0, 1, 1], 0.25, {"train": 0.6, "validation": 0.2, "test": 0.2}, seed=1)
    b = assign_grid_splits([0, 0, 1, 1], 0.25, {"train": 0.6, "validation": 0.2, "test": 0.2}, seed=1)
    assert a == b and len(a) == 16
    counts = {k: sum(c.split == k for c in a) for k in ("train", "validation", "test")}
    assert counts == {"train": 10, "validation": 3, "test": 3}
    with pytest.raises(ValueError, match="sum to 1"):
        assign_grid_splits([0, 0, 1, 1], 0.25, {"train": 0.6, "test": 0.2})
    with pytest.raises(ValueError, match="1 grid cell"):
        assign_grid_splits([0, 0, 1, 1], 2.0, {"train": 0.5, "test": 0.5})
