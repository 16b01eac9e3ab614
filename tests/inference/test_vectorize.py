"""Class maps back to polygons and areas, on the real label raster and a map predict_raster made from the real HLS chip.

What is checked: every polygon's area is its pixels times the pixel area; the polygons of a class,
burnt back onto the map's grid, give exactly that class's pixels (so their union area is the class
area and they do not overlap); nodata is never a polygon; CLASS_NAMES reach the polygons and the
area table; simplification keeps neighbours sharing their boundaries (the areas still add up to the
map's); a geographic CRS is an error that names it.
"""

from __future__ import annotations

import csv
import json
import struct

import keras
import numpy as np
import pyogrio
import pytest
import rasterio
import rasterio.features
from pyogrio.raw import read as read_vector

from rskeras.cli import main
from rskeras.inference import class_areas, predict_raster, vectorize
from rskeras.models import ann

CLASS_NAMES = ["water", "bare soil", "vegetation"]
PIXEL_M2 = 30.0 * 30.0


def polygons_of(wkb: bytes) -> dict:
    """A GeoJSON-like polygon from the little-endian WKB the writer stores (GeoPackage adds a header)."""
    start = wkb.index(b"\x01\x03\x00\x00\x00")
    n_rings, = struct.unpack_from("<I", wkb, start + 5)
    offset, rings = start + 9, []
    for _ in range(n_rings):
        n, = struct.unpack_from("<I", wkb, offset)
        rings.append(np.frombuffer(wkb, "<f8", 2 * n, offset + 4).reshape(n, 2).tolist())
        offset += 4 + 16 * n
    return {"type": "Polygon", "coordinates": rings}


def read_layer(path):
    """``(fields by name, geometries)`` of a vector file."""
    meta, _, geometries, values = read_vector(path)
    return dict(zip(meta["fields"], values)), [polygons_of(g) for g in geometries], meta


def burn(geometries, classes, ds) -> np.ndarray:
    return rasterio.features.rasterize(zip(geometries, classes.tolist()), out_shape=ds.shape, transform=ds.transform,
                                       fill=0, dtype="int32")


@pytest.fixture(scope="module")
def predicted_map(hls_path, tmp_path_factory):
    """A class map of the real HLS chip, written by predict_raster (uint8, CLASS_NAMES tag) with a tiny ANN."""
    keras.utils.set_random_seed(0)
    with rasterio.open(hls_path) as ds:
        vectors = ds.read([2, 3, 4, 5]).reshape(4, -1).T
    model = ann(4, task="multiclass", hidden=(8,), class_names=CLASS_NAMES, training_vectors=vectors)
    path = tmp_path_factory.mktemp("vectorize") / "classes.tif"
    predict_raster(model, hls_path, path, bands=[2, 3, 4, 5], progress=False)
    return path


def test_label_raster_polygons_cover_each_class_exactly(labels_dir, tmp_path):
    labels = labels_dir / "landsat7_training_labels.tif"
    result = vectorize(labels, tmp_path / "labels.gpkg")
    fields, geometries, meta = read_layer(tmp_path / "labels.gpkg")
    with rasterio.open(labels) as ds:
        truth = ds.read(1)
        assert rasterio.crs.CRS.from_user_input(meta["crs"]) == ds.crs
        burnt = burn(geometries, fields["class"], ds)
    np.testing.assert_array_equal(burnt, truth)  # nodata 0 stays empty: never a polygon
    assert 0 not in fields["class"] and result.polygons == len(geometries) == 39
    np.testing.assert_array_equal(fields["area_m2"], fields["pixels"] * PIXEL_M2)
    np.testing.assert_allclose(fields["area_ha"], fields["area_m2"] / 1e4)
    table = class_areas(labels)
    for row in table:  # 383 / 16 / 145 / 106 / 68 labelled pixels, as the data's README says
        mine = fields["class"] == row["class"]
        pixels = (truth == row["class"]).sum()
        assert fields["area_m2"][mine].sum() == row["area_m2"] == row["pixels"] * PIXEL_M2 == pixels * PIXEL_M2
    assert [row["pixels"] for row in table] == [383, 16, 145, 106, 68]


def test_predicted_map_carries_class_names(predicted_map, tmp_path):
    result = vectorize(predicted_map, tmp_path / "classes.geojson")
    fields, geometries, _ = read_layer(tmp_path / "classes.geojson")
    with rasterio.open(predicted_map) as ds:
        classes = ds.read(1)
        np.testing.assert_array_equal(burn(geometries, fields["class"] + 1, ds) - 1, classes)
    assert set(fields["class_name"]) == {CLASS_NAMES[c] for c in np.unique(classes)}
    assert [CLASS_NAMES[c] for c in fields["class"]] == list(fields["class_name"])
    assert sum(result.per_class.values()) == result.polygons == len(geometries)

    rows = class_areas(predicted_map, tmp_path / "areas.json")
    values, counts = np.unique(classes, return_counts=True)
    assert [(r["class"], r["name"], r["pixels"]) for r in rows] == [
        (int(v), CLASS_NAMES[v], int(n)) for v, n in zip(values, counts)]
    assert [r["area_ha"] for r in rows] == pytest.approx([n * PIXEL_M2 / 1e4 for n in counts])
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    for row in rows:
        assert fields["area_m2"][fields["class"] == row["class"]].sum() == pytest.approx(row["area_m2"])
    saved = json.loads((tmp_path / "areas.json").read_text())
    assert saved["classes"] == rows and saved["pixel_area_m2"] == PIXEL_M2 and saved["total_pixels"] == 224 * 224


def test_simplify_keeps_neighbours_sharing_boundaries(predicted_map, tmp_path):
    plain = vectorize(predicted_map, tmp_path / "plain.gpkg")
    simple = vectorize(predicted_map, tmp_path / "simple.gpkg", simplify=45.0)
    exact, exact_geometries, _ = read_layer(tmp_path / "plain.gpkg")
    fields, geometries, _ = read_layer(tmp_path / "simple.gpkg")
    assert simple.polygons == plain.polygons
    np.testing.assert_array_equal(fields["pixels"], exact["pixels"])  # counted on the pixel outlines
    # no gaps or overlaps opened: the simplified areas still add up to the whole map
    assert fields["area_m2"].sum() == pytest.approx(224 * 224 * PIXEL_M2)
    assert not np.allclose(fields["area_m2"], exact["area_m2"])
    vertices = sum(len(ring) for g in geometries for ring in g["coordinates"])
    assert vertices < 0.8 * sum(len(ring) for g in exact_geometries for ring in g["coordinates"])


def test_minimum_area_in_m2_or_pixels(predicted_map, tmp_path):
    vectorize(predicted_map, tmp_path / "all.gpkg")
    pixels = read_layer(tmp_path / "all.gpkg")[0]["pixels"]
    by_pixels = vectorize(predicted_map, tmp_path / "pixels.gpkg", min_pixels=3)
    by_area = vectorize(predicted_map, tmp_path / "area.gpkg", min_area=3 * PIXEL_M2)
    assert by_pixels.left_out == by_area.left_out == int((pixels < 3).sum()) > 0
    assert by_pixels.polygons == int((pixels >= 3).sum())
    assert read_layer(tmp_path / "area.gpkg")[0]["pixels"].min() >= 3


def test_eight_connectivity_joins_diagonal_pixels(tmp_path):
    path = tmp_path / "diagonal.tif"
    profile = {"driver": "GTiff", "width": 3, "height": 3, "count": 1, "dtype": "uint8", "nodata": 255,
               "crs": "EPSG:32615", "transform": rasterio.Affine(10, 0, 500000, 0, -10, 4000000)}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.array([[1, 0, 255], [0, 1, 0], [255, 0, 1]], "uint8"), 1)
    assert vectorize(path, tmp_path / "four.gpkg").per_class == {"1": 3, "0": 4}
    assert vectorize(path, tmp_path / "eight.gpkg", connectivity=8).per_class["1"] == 1
    assert read_layer(tmp_path / "eight.gpkg")[0]["area_m2"].sum() == 7 * 100.0


def test_geographic_crs_has_no_area_in_m2(predicted_map, tmp_path):
    geographic = tmp_path / "geographic.tif"
    with rasterio.open(predicted_map) as src:
        profile = src.profile | {"crs": "EPSG:4326", "transform": rasterio.Affine(0.0003, 0, -93, 0, -0.0003, 15)}
        with rasterio.open(geographic, "w", **profile) as dst:
            dst.write(src.read())
    for call in (lambda: vectorize(geographic, tmp_path / "out.gpkg"), lambda: class_areas(geographic)):
        with pytest.raises(ValueError, match=r"geographic CRS \(EPSG:4326\).*reproject"):
            call()
    assert not (tmp_path / "out.gpkg").exists()


def test_cli_writes_polygons_and_the_area_table(predicted_map, tmp_path, capsys):
    out, table = tmp_path / "classes.gpkg", tmp_path / "areas.csv"
    assert main(["vectorize", str(predicted_map), str(out), "--min-pixels", "2", "--areas", str(table)]) == 0
    printed = capsys.readouterr().out
    assert "polygons" in printed and "below the minimum area left out" in printed and f"wrote {table}" in printed
    rows = list(csv.DictReader(table.open()))
    assert [r["name"] for r in rows] == [r["name"] for r in class_areas(predicted_map)]
    assert pyogrio.read_info(out)["features"] == vectorize(predicted_map, tmp_path / "again.gpkg",
                                                          min_pixels=2).polygons
