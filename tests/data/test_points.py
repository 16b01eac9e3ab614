"""read_points / Points on files written by the tests, placed on real HLS pixel centres."""

from __future__ import annotations

import json

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import rasterio.transform
from rasterio.crs import CRS
from rasterio.warp import transform

from rskeras.data import Points, read_points

PIXELS = [(0, 0), (10, 20), (223, 223), (100, 5)]  # (row, col) of the HLS chip
CLASSES = ["water", "crop", "crop", "urban"]


@pytest.fixture(scope="module")
def centres(hls_path):
    """Pixel centres of PIXELS: (utm_x, utm_y, lon, lat, raster crs)."""
    with rasterio.open(hls_path) as ds:
        rows, cols = zip(*PIXELS)
        ux, uy = (np.array(v) for v in rasterio.transform.xy(ds.transform, rows, cols))
        lon, lat = transform(ds.crs, "EPSG:4326", ux, uy)
        return ux, uy, np.array(lon), np.array(lat), ds.crs


def _write_csv(path, header, rows):
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n")
    return path


def _point_wkb(x, y):
    return np.frombuffer(b"\x01\x01\x00\x00\x00" + np.array([x, y], "<f8").tobytes(), np.uint8).tobytes()


def test_csv_lon_lat_defaults_to_wgs84_and_types_columns(tmp_path, centres):
    _, _, lon, lat, _ = centres
    rows = [
        (repr(float(lo)), repr(float(la)), cls, i, i + 0.5) for i, (lo, la, cls) in enumerate(zip(lon, lat, CLASSES))
    ]
    path = _write_csv(tmp_path / "field.csv", ["Longitude", "LAT", "class", "plot", "cover"], rows)
    pts = read_points(path)
    assert len(pts) == 4 and pts.crs == CRS.from_epsg(4326) and pts.source == str(path)
    np.testing.assert_array_equal(pts.x, lon)
    np.testing.assert_array_equal(pts.y, lat)
    assert pts.columns == ["class", "plot", "cover"]
    assert pts.column("class").tolist() == CLASSES and pts.column("class").dtype.kind == "U"
    assert pts.column("plot").dtype == np.int64 and pts.column("plot").tolist() == [0, 1, 2, 3]
    assert pts.column("cover").dtype == np.float64


def test_csv_projected_xy_needs_crs_and_reprojects(tmp_path, centres):
    ux, uy, lon, lat, crs = centres
    path = _write_csv(
        tmp_path / "utm.csv",
        ["id", "X", "y"],
        [(i, repr(float(a)), repr(float(b))) for i, (a, b) in enumerate(zip(ux, uy))],
    )
    with pytest.raises(ValueError, match=r"utm\.csv.*'X'/'y' have no CRS; pass crs=.*EPSG:32614"):
        read_points(path)
    pts = read_points(path, crs="EPSG:32614")
    assert pts.crs == crs and pts.column("id").tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(pts.to_crs("EPSG:4326").x, lon, atol=1e-9)
    back = pts.to_crs("EPSG:4326").to_crs(crs)
    np.testing.assert_allclose(back.x, ux, atol=1e-6)
    np.testing.assert_allclose(back.y, uy, atol=1e-6)
    # explicit column names override detection
    named = _write_csv(
        tmp_path / "named.csv", ["easting", "northing"], [(repr(float(a)), repr(float(b))) for a, b in zip(ux, uy)]
    )
    np.testing.assert_array_equal(read_points(named, x="easting", y="northing", crs=crs).y, uy)


def test_csv_errors_name_the_file_and_columns(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        read_points(tmp_path / "nowhere.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("\n")
    with pytest.raises(ValueError, match=r"empty\.csv is empty"):
        read_points(empty)
    header_only = _write_csv(tmp_path / "header.csv", ["lon", "lat"], [])
    with pytest.raises(ValueError, match=r"header\.csv has a header \(lon, lat\) but no rows"):
        read_points(header_only)
    no_coords = _write_csv(tmp_path / "nocoords.csv", ["east", "north", "class"], [(1, 2, "a")])
    with pytest.raises(KeyError, match=r"nocoords\.csv: no x \(longitude\).*columns: east, north, class"):
        read_points(no_coords)
    with pytest.raises(KeyError, match=r"nocoords\.csv has no column 'eastin'; columns: east, north, class"):
        read_points(no_coords, x="eastin", y="north", crs="EPSG:32614")
    both = _write_csv(tmp_path / "both.csv", ["lon", "lat", "x", "y"], [(1, 2, 3, 4)])
    with pytest.raises(KeyError, match=r"several x \(longitude\) coordinate columns \(lon, x\).*pass x= and y="):
        read_points(both)
    bad_value = _write_csv(tmp_path / "bad.csv", ["lon", "lat"], [(1, 2), ("n/a", 3)])
    with pytest.raises(ValueError, match=r"bad\.csv: row 3 has no numeric coordinate in column 'lon' \(got 'n/a'\)"):
        read_points(bad_value)
    projected = _write_csv(tmp_path / "proj.csv", ["lon", "lat"], [(440295.0, 3159705.0)])
    with pytest.raises(ValueError, match=r"proj\.csv.*outside longitude/latitude range.*crs="):
        read_points(projected)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(ValueError, match=r"cannot read points CSV .*binary\.csv"):
        read_points(binary)
    with pytest.raises(ValueError, match=r"points\.shp.*unsupported"):
        (tmp_path / "points.shp").write_bytes(b"")
        read_points(tmp_path / "points.shp")


def test_geojson_without_crs_is_wgs84_and_non_points_are_named(tmp_path, centres):
    _, _, lon, lat, _ = centres
    features = [
        {"type": "Feature", "properties": {"class": c, "plot": i},
         "geometry": {"type": "Point", "coordinates": [lo, la]}}
        for i, (lo, la, c) in enumerate(zip(lon, lat, CLASSES))
    ]  # fmt: skip
    path = tmp_path / "field.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    pts = read_points(path)
    assert pts.crs == CRS.from_epsg(4326)
    np.testing.assert_allclose(pts.x, lon, atol=1e-12)
    np.testing.assert_allclose(pts.y, lat, atol=1e-12)
    assert pts.column("class").tolist() == CLASSES and pts.column("plot").tolist() == [0, 1, 2, 3]
    features[1]["geometry"] = {"type": "MultiPoint", "coordinates": [[lon[1], lat[1]], [lon[2], lat[2]]]}
    multi = tmp_path / "multi.json"
    multi.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    with pytest.raises(ValueError, match=r"multi\.json: feature 1 \(FID 1\) is a MultiPoint; only Point"):
        read_points(multi)
    garbage = tmp_path / "garbage.geojson"
    garbage.write_text("{not json")
    with pytest.raises(ValueError, match=r"cannot read points file .*garbage\.geojson"):
        read_points(garbage)


def test_geopackage_layers_and_crs(tmp_path, centres):
    ux, uy, _, _, crs = centres
    path = tmp_path / "field.gpkg"
    wkb = np.array([_point_wkb(a, b) for a, b in zip(ux, uy)], dtype=object)
    classes = np.array(CLASSES, dtype=object)
    pyogrio.raw.write(
        path, wkb, [classes], fields=["class"], geometry_type="Point", crs="EPSG:32614", layer="plots", driver="GPKG"
    )
    pts = read_points(path)
    assert pts.crs == crs and pts.column("class").tolist() == CLASSES
    np.testing.assert_allclose(pts.x, ux)
    pyogrio.raw.write(
        path,
        wkb[:2],
        [classes[:2]],
        fields=["class"],
        geometry_type="Point",
        crs="EPSG:32614",
        layer="extra",
        driver="GPKG",
        append=True,
    )
    with pytest.raises(ValueError, match=r"field\.gpkg has several layers; choose one with layer=: plots, extra"):
        read_points(path)
    assert len(read_points(path, layer="extra")) == 2
    with pytest.raises(KeyError, match=r"field\.gpkg has no layer 'plot'; layers: plots, extra"):
        read_points(path, layer="plot")
    with pytest.raises(ValueError, match=r"declares CRS EPSG:32614, which differs from crs='EPSG:4326'"):
        read_points(path, layer="plots", crs="EPSG:4326")
    nocrs = tmp_path / "nocrs.gpkg"
    with pytest.warns(UserWarning, match="crs"):
        pyogrio.raw.write(nocrs, wkb, [classes], fields=["class"], geometry_type="Point", driver="GPKG")
    with pytest.raises(ValueError, match=r"nocrs\.gpkg has no CRS; pass crs="):
        read_points(nocrs)
    assert read_points(nocrs, crs="EPSG:32614").crs == crs


def test_points_need_a_crs_and_matching_lengths():
    with pytest.raises(ValueError, match=r"plots\.csv: points need a CRS; pass crs="):
        Points([1.0], [2.0], None, source="plots.csv")
    with pytest.raises(ValueError, match=r"column 'class' has 1 values for 2 points"):
        Points([1.0, 2.0], [3.0, 4.0], "EPSG:4326", {"class": ["a"]})


def test_column_errors_name_file_and_list_columns(tmp_path):
    path = _write_csv(tmp_path / "cols.csv", ["lon", "lat", "class", "year"], [(1.0, 2.0, "a", 2020)])
    with pytest.raises(KeyError, match=r"cols\.csv has no column 'label'; columns: class, year"):
        read_points(path).column("label")


@pytest.mark.parametrize("name", ["out.csv", "out.geojson", "out.gpkg"])
def test_write_round_trips_atomically(tmp_path, centres, name):
    ux, uy, lon, lat, crs = centres
    attrs = {"class": np.array(CLASSES), "plot": np.arange(4), "cover": np.linspace(0, 1, 4)}
    for pts in (Points(lon, lat, "EPSG:4326", attrs), Points(ux, uy, crs, attrs)):
        target = pts.write(tmp_path / name)
        assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file left
        back = read_points(target, crs=None if name != "out.csv" or pts.crs.is_geographic else crs)
        assert back.crs == pts.crs
        np.testing.assert_allclose(back.x, pts.x, rtol=1e-14)
        np.testing.assert_allclose(back.y, pts.y, rtol=1e-14)
        assert back.column("class").tolist() == CLASSES and back.column("plot").tolist() == [0, 1, 2, 3]
        np.testing.assert_allclose(back.column("cover"), attrs["cover"])


def test_failed_write_leaves_nothing(tmp_path):
    pts = Points([1.0], [2.0], "EPSG:4326", {"lon": np.array([3.0])})
    with pytest.raises(ValueError, match="clash with coordinates"):
        pts.write(tmp_path / "clash.csv")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"cannot write points to .*out\.txt2"):
        pts.write(tmp_path / "out.txt2")
