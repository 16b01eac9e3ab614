"""raster_dataset and `rskeras train` (source rasters) given bad rasters, labels and options.

Each case: an error naming the file and the field at fault (and what there is), raised before any patch is
read; the inputs unchanged; nothing written in the working folder.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
import rasterio
import yaml

from rskeras.data import BlockSplit, RegionSplit, raster_dataset
from tests.hostile.conftest import assert_cli_error, leftovers, run_cli

SCENE, SCENE_2002 = "landsat7_1999_stack.tif", "landsat7_2002_stack.tif"
LABELS, POLYGONS = "landsat7_training_labels.tif", "landsat7_training_polygons.shp"


@pytest.fixture
def work(tmp_path, monkeypatch):
    """An empty working folder; the test fails if anything is left in it that the case did not make."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _shifted_labels(labels_dir, dst):
    """The label raster moved 100 km east (the same CRS)."""
    with rasterio.open(labels_dir / LABELS) as src:
        profile, data = src.profile, src.read()
    t = profile["transform"]
    with rasterio.open(dst, "w", **{**profile, "transform": rasterio.Affine(t.a, 0, t.c + 100_000, 0, t.e, t.f)}) as d:
        d.write(data)
    return dst


def _polygons_without_crs(labels_dir, folder):
    for suffix in (".shp", ".shx", ".dbf"):
        shutil.copy(labels_dir / POLYGONS.replace(".shp", suffix), folder / f"nocrs{suffix}")
    return folder / "nocrs.shp"


def _far_polygon(folder):
    ring = [[100_000, 1_000_000], [101_000, 1_000_000], [101_000, 1_001_000], [100_000, 1_000_000]]
    path = folder / "far.geojson"
    feature = {"type": "Feature", "properties": {"class": "forest"},
               "geometry": {"type": "Polygon", "coordinates": [ring]}}
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32615"}}
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": crs, "features": [feature]}))
    return path


CASES = {
    "images and labels do not overlap": (
        lambda d, w: (d / SCENE, {"labels": _shifted_labels(d, w / "shifted.tif")}),
        ValueError, [r"label raster .*shifted\.tif \(x 562405\.\.569905, y 1734315\.\.1741815 \(EPSG:32615\)\)",
                     r"does not overlap the images \(.*landsat7_1999_stack\.tif: x 462405\.\.469905, y 1734315"]),
    "vector file without CRS": (
        lambda d, w: (d / SCENE, {"labels": _polygons_without_crs(d, w), "label_column": "class"}),
        ValueError, [r"vector file .*nocrs\.shp has no CRS"]),
    "missing label column": (
        lambda d, w: (d / SCENE, {"labels": d / POLYGONS, "label_column": "klass"}),
        KeyError, [r"landsat7_training_polygons\.shp has no column 'klass'; columns: id, class"]),
    "no label column for a vector file": (
        lambda d, w: (d / SCENE, {"labels": d / POLYGONS}),
        KeyError, [r"needs label_column= \(the column to use\); columns: id, class"]),
    "values not in the class list": (
        lambda d, w: (d / SCENE, {"labels": d / POLYGONS, "label_column": "class", "classes": ["forest", "water"]}),
        ValueError, [(r"polygons\.shp column 'class' holds values \['barren', 'herbaceous', 'urban'\] that are not in "
                     r"the given classes \(forest, water\)")]),
    "no feature inside the images": (
        lambda d, w: (d / SCENE, {"labels": _far_polygon(w), "label_column": "class"}),
        ValueError, [r"no feature of vector file .*far\.geojson lies inside the images \(features: x 100000\.\.101000",
                     r"images: .*landsat7_1999_stack\.tif: x 462405"]),
    "patch larger than the scene": (
        lambda d, w: (d / SCENE, {"labels": d / LABELS, "patch_size": 300}),
        ValueError, [r"patch_size 300x300 px is larger than scene .*landsat7_1999_stack\.tif \(250x250 px"]),
    "band missing from one of two scenes": (
        lambda d, w: ([d / SCENE_2002, d / SCENE], {"bands": ["band 4 reflectance"], "patch_size": 32}),
        KeyError, [r"raster .*landsat7_1999_stack\.tif has no band 'band 4 reflectance'; bands: 1=band_1"]),
    "scenes with different band counts": (
        lambda d, w: ([d / SCENE, d.parent / "rasters" / "landsat7_rgb_byte.tif"], {"patch_size": 32}),
        ValueError, [(r"the scenes have different band counts \(.*landsat7_1999_stack\.tif: 8; "
                     r".*landsat7_rgb_byte\.tif: 3\)")]),
    "ignore value that is a class": (
        lambda d, w: (d / SCENE, {"labels": d / LABELS, "ignore_value": 2}),
        ValueError, [(r"ignore_value 2 is the index of class '3' of labels .*landsat7_training_labels\.tif "
                     r"\(classes: 0=1, 1=2, 2=3, 3=4, 4=5\); choose a value outside 0\.\.4")]),
    "label column for a label raster": (
        lambda d, w: (d / SCENE, {"labels": d / LABELS, "label_column": "class"}),
        ValueError, [r"label_column='class' names a column of a vector file, but .*labels\.tif is a raster"]),
    "unknown subset of a split": (
        lambda d, w: (d / SCENE, {"labels": d / LABELS, "split": BlockSplit(50, (0.8, 0.2)), "subset": "test"}),
        ValueError, [r"subset 'test' is not a subset of the split; subsets: train, validation"]),
    "a cache that is an input": (
        lambda d, w: (d / SCENE, {"labels": d / LABELS, "cache": d / LABELS}),
        ValueError, [r"cache .*labels\.tif is also an input"]),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_named_and_nothing_is_written(case, labels_dir, work, unchanged):
    make, error, patterns = CASES[case]
    images, options = make(labels_dir, work)
    before = sorted(p.name for p in work.iterdir())
    with unchanged(labels_dir), pytest.raises(error) as raised:
        raster_dataset(images, **{"patch_size": 64, **options})
    message = str(raised.value.args[0])
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)
    assert sorted(p.name for p in work.iterdir()) == before and not leftovers(work)


def test_region_split_without_its_column_lists_the_columns(labels_dir, work):
    with pytest.raises(KeyError, match=r"split regions: vector file .*polygons\.shp has no column 'split'; "
                                       r"columns: id, class"):
        raster_dataset(labels_dir / SCENE, labels_dir / LABELS, split=RegionSplit(labels_dir / POLYGONS),
                       subset="train")


def test_train_cli_names_the_key_before_writing_anything(labels_dir, work, unchanged):
    """`rskeras train` with source rasters: a bad column or sampler is one line naming the key; no run folder."""
    config = {"data": {"source": "rasters", "images": str(labels_dir / SCENE), "labels": str(labels_dir / POLYGONS),
                       "label_column": "klass", "bands": "all", "patch_size": 32},
              "model": {"name": "unet", "options": {"depth": 2, "filters": 4}}, "task": "multiclass",
              "training": {"epochs": 1}, "output": {"run_dir": "runs/bad"}}
    (work / "bad.yaml").write_text(yaml.safe_dump(config))
    with unchanged(labels_dir):
        result = run_cli("train", "bad.yaml", cwd=work)
    assert_cli_error(result, "data.label_column", "has no column 'klass'; columns: id, class")
    (work / "bad.yaml").write_text(yaml.safe_dump({**config, "data": {**config["data"], "label_column": "class",
                                                                       "sampler": {"type": "sobol"}}}))
    assert_cli_error(run_cli("train", "bad.yaml", cwd=work), "data.sampler.type 'sobol' is not one of random, grid")
    assert sorted(p.name for p in work.iterdir()) == ["bad.yaml"]
