"""Accuracy and area estimation: the worked example of Olofsson et al. (2014), Stehman (2014) by hand, real data.

The paper's numbers used here (Section 5, Tables 8 and 9 and the text after them) were taken from the
public material that reproduces the example (the R package mapaccuracy's documentation carries Table 8 as
test data; two independent re-implementations print the paper's values), not from rskeras' own output.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from rskeras.data import read_points
from rskeras.evaluation import assess_map, design_sample, write_assessment

CLASSES = ["deforestation", "forest gain", "stable forest", "stable non-forest"]
TABLE_8 = np.array([  # sample counts: rows map class, columns reference class
    [66, 0, 5, 4],
    [0, 55, 8, 12],
    [1, 0, 153, 11],
    [2, 1, 9, 313],
])
MAPPED_PIXELS = dict(zip(CLASSES, [200_000, 150_000, 3_200_000, 6_450_000]))  # 30 m Landsat pixels
PIXEL_M2 = 30 * 30


def table_8(counts: np.ndarray = TABLE_8) -> dict[str, np.ndarray]:
    """One row per sample point: its map class and reference class, from an error matrix of counts."""
    mapped, reference = [], []
    for i, row in enumerate(counts):
        for j, count in enumerate(row):
            mapped += [CLASSES[i]] * count
            reference += [CLASSES[j]] * count
    return {"map": np.array(mapped), "reference": np.array(reference)}


@pytest.fixture(scope="module")
def worked_example():
    return assess_map(table_8(), "reference", "map", strata_areas=MAPPED_PIXELS, pixel_area=PIXEL_M2)


def half_width(result, estimate):
    return result.z * estimate.se


def test_olofsson_2014_error_matrix_of_area_proportions(worked_example):
    p = worked_example.proportions
    assert worked_example.counts.tolist() == TABLE_8.tolist() and worked_example.estimator == "olofsson2014"
    # Table 9
    assert [round(p[0, 0], 4), round(p[0, 2], 4), round(p[1, 1], 4), round(p[2, 2], 4), round(p[3, 3], 4)] == [
        0.0176, 0.0013, 0.0110, 0.2967, 0.6212]
    assert np.round(p.sum(axis=0), 4).tolist() == [0.0235, 0.0130, 0.3175, 0.6460]
    assert np.round(worked_example.map_share, 3).tolist() == [0.02, 0.015, 0.32, 0.645]


def test_olofsson_2014_accuracies(worked_example):
    r = worked_example
    assert r.z == 1.96
    assert (round(r.overall_accuracy.value, 2), round(half_width(r, r.overall_accuracy), 2)) == (0.95, 0.02)
    assert [round(e.value, 2) for e in r.users_accuracy] == [0.88, 0.73, 0.93, 0.96]
    assert [round(half_width(r, e), 2) for e in r.users_accuracy] == [0.07, 0.10, 0.04, 0.02]
    assert [round(e.value, 2) for e in r.producers_accuracy] == [0.75, 0.85, 0.93, 0.96]
    # The paper prints 0.21, 0.23, 0.03, 0.01. Its eq. (7) gives 0.213, 0.254, 0.034, 0.018 (so do the other
    # re-implementations): forest gain and stable non-forest do not reproduce; rskeras implements the equation.
    assert [round(half_width(r, e), 3) for e in r.producers_accuracy] == [0.213, 0.254, 0.034, 0.018]


def test_olofsson_2014_areas(worked_example):
    r = worked_example
    hectares = [r.area(k, "ha") for k in range(4)]
    assert [round(e.value) for e in hectares] == [21_158, 11_686, 285_770, 581_386]
    assert [round(half_width(r, e)) for e in hectares] == [6_158, 3_756, 15_510, 16_282]
    deforestation = r.area(0, "pixels")  # the paper's pixel figures: 235,086 +- 68,418 pixels
    assert (round(deforestation.value), round(half_width(r, deforestation))) == (235_086, 68_418)
    assert r.map_share[0] * r.total_pixels * r.unit_per_pixel == pytest.approx(18_000)  # mapped: 18,000 ha
    assert [round(r.area(k, "share").value, 4) for k in range(4)] == [0.0235, 0.0130, 0.3175, 0.6460]


def test_strata_column_equal_to_the_map_gives_olofsson_numbers(worked_example):
    table = table_8()
    table["stratum"] = table["map"]
    with pytest.warns(UserWarning, match="map areas are estimated from the sample"):
        r = assess_map(table, "reference", "map", strata_column="stratum", strata_areas=MAPPED_PIXELS,
                       pixel_area=PIXEL_M2)
    assert r.estimator == "stehman2014"
    for mine, theirs in [(r.overall_accuracy, worked_example.overall_accuracy),
                         *zip(r.producers_accuracy, worked_example.producers_accuracy),
                         *zip(r.area_share, worked_example.area_share)]:
        assert (mine.value, mine.se) == pytest.approx((theirs.value, theirs.se), rel=1e-12)


# Stehman (2014), numerical example: 4 strata of 10 points, strata differ from the map classes
STEHMAN_STRATA = list("AAAAAAAAAA" "BBBBBBBBBB" "CCCCCCCCCC" "DDDDDDDDDD")
STEHMAN_MAP = list("AAAAAAABBB" "ABBBBBBBBB" "BBCCCCCCBB" "DDDDDDDDDD")
STEHMAN_REFERENCE = list("AAAAACBABC" "ABBBBBAABB" "CCCCCDDBBA" "DDDDDDDCCB")
STEHMAN_SIZES = {"A": 40_000, "B": 30_000, "C": 20_000, "D": 10_000}


def _mean_and_variance(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def _hand_share(y: list[float]) -> tuple[float, float]:
    """sum_h W_h ybar_h and sqrt(sum_h W_h^2 s2_h / n_h), by loops."""
    total = sum(STEHMAN_SIZES.values())
    estimate = variance = 0.0
    for h, size in STEHMAN_SIZES.items():
        y_h = [y[u] for u in range(len(y)) if STEHMAN_STRATA[u] == h]
        mean, s2 = _mean_and_variance(y_h)
        estimate += size / total * mean
        variance += (size / total) ** 2 * s2 / len(y_h)
    return estimate, variance**0.5


def _hand_ratio(y: list[float], x: list[float]) -> tuple[float, float]:
    """Stehman's ratio estimator R = Y / X and its standard error, by loops."""
    Y = X = 0.0
    for h, size in STEHMAN_SIZES.items():
        units = [u for u in range(len(y)) if STEHMAN_STRATA[u] == h]
        Y += size * sum(y[u] for u in units) / len(units)
        X += size * sum(x[u] for u in units) / len(units)
    R = Y / X
    variance = 0.0
    for h, size in STEHMAN_SIZES.items():
        units = [u for u in range(len(y)) if STEHMAN_STRATA[u] == h]
        n = len(units)
        my, s2y = _mean_and_variance([y[u] for u in units])
        mx, s2x = _mean_and_variance([x[u] for u in units])
        sxy = sum((y[u] - my) * (x[u] - mx) for u in units) / (n - 1)
        variance += size**2 * (s2y + R**2 * s2x - 2 * R * sxy) / n
    return R, variance**0.5 / X


def test_stehman_2014_strata_differ_from_map_classes_by_hand():
    table = {"stratum": np.array(STEHMAN_STRATA), "map": np.array(STEHMAN_MAP),
             "reference": np.array(STEHMAN_REFERENCE)}
    with pytest.warns(UserWarning, match="map areas are estimated from the sample"):
        r = assess_map(table, "reference", "map", strata_column="stratum", strata_areas=STEHMAN_SIZES,
                       area_unit="pixels")
    assert r.estimator == "stehman2014" and r.classes == ["A", "B", "C", "D"] and r.area_unit is None
    # by hand on paper: share of A = 0.4*6/10 + 0.3*3/10 + 0.2*1/10 + 0.1*0 = 0.35;
    # overall accuracy = 0.4*6/10 + 0.3*8/10 + 0.2*4/10 + 0.1*7/10 = 0.63
    assert r.area_share[0].value == pytest.approx(0.35) and r.overall_accuracy.value == pytest.approx(0.63)
    n = len(STEHMAN_MAP)
    agree = [float(STEHMAN_MAP[u] == STEHMAN_REFERENCE[u]) for u in range(n)]
    assert (r.overall_accuracy.value, r.overall_accuracy.se) == pytest.approx(_hand_share(agree))
    for k, c in enumerate(r.classes):
        hit = [float(STEHMAN_MAP[u] == c and STEHMAN_REFERENCE[u] == c) for u in range(n)]
        is_map = [float(STEHMAN_MAP[u] == c) for u in range(n)]
        is_reference = [float(STEHMAN_REFERENCE[u] == c) for u in range(n)]
        assert (r.area_share[k].value, r.area_share[k].se) == pytest.approx(_hand_share(is_reference))
        assert (r.users_accuracy[k].value, r.users_accuracy[k].se) == pytest.approx(_hand_ratio(hit, is_map))
        assert (r.producers_accuracy[k].value, r.producers_accuracy[k].se) == pytest.approx(
            _hand_ratio(hit, is_reference))
        for j, d in enumerate(r.classes):
            cell = [float(STEHMAN_MAP[u] == c and STEHMAN_REFERENCE[u] == d) for u in range(n)]
            assert r.proportions[k, j] == pytest.approx(_hand_share(cell)[0])


def test_missing_reference_labels_are_counted_and_left_out():
    table = table_8()
    reference = table["reference"].astype(object)
    blank = [3, 80, 200]  # two points where the map is right, one where it is wrong
    assert reference[3] == table["map"][3] and reference[200] == table["map"][200]
    reference[blank] = ["", None, "  "]
    table["reference"] = reference
    with pytest.warns(UserWarning, match="3 of 640 points have no reference label in column 'reference'"):
        r = assess_map(table, "reference", "map", strata_areas=MAPPED_PIXELS, pixel_area=PIXEL_M2)
    kept = np.setdiff1d(np.arange(640), blank)
    expected = assess_map({k: v[kept] for k, v in table_8().items()}, "reference", "map", strata_areas=MAPPED_PIXELS,
                          pixel_area=PIXEL_M2)
    assert r.missing_reference == [4, 81, 201] and (r.n_points, r.n_used) == (640, 637)
    assert r.counts.sum() == 637 and r.overall_accuracy.value == pytest.approx(expected.overall_accuracy.value)
    assert "not counted as agreement" in r.notes[0]
    assert r.to_dict()["n_missing_reference"] == 3


def test_bad_assessment_input():
    with pytest.raises(ValueError, match="holds classes the map does not have: cloud; map classes: deforestation"):
        table = table_8()
        table["reference"][5] = "cloud"
        assess_map(table, "reference", "map", strata_areas=MAPPED_PIXELS)
    thin = TABLE_8.copy()
    thin[1] = [0, 1, 0, 0]  # one point mapped as forest gain
    with pytest.raises(ValueError, match=r"fewer than 2 labelled points: forest gain \(1 point\)"):
        assess_map(table_8(thin), "reference", "map", strata_areas=MAPPED_PIXELS)
    with pytest.raises(KeyError, match="has no column 'truth'; columns: map, reference"):
        assess_map(table_8(), "truth", "map", strata_areas=MAPPED_PIXELS)
    with pytest.raises(ValueError, match="strata sizes are unknown"):
        assess_map(table_8(), "reference", "map")
    with pytest.raises(ValueError, match="give map_column="):
        assess_map(table_8(), "reference", strata_areas=MAPPED_PIXELS)
    with pytest.raises(ValueError, match="strata_column='map' needs strata_areas="):
        assess_map(table_8(), "reference", "map", strata_column="map")
    with pytest.raises(ValueError, match="strata without a size in strata_areas: stable non-forest"):
        sizes = {k: v for k, v in MAPPED_PIXELS.items() if k != "stable non-forest"}
        assess_map(table_8(), "reference", "map", strata_column="map", strata_areas=sizes)
    with pytest.raises(ValueError, match="area_unit='ha' needs the pixel area"):
        assess_map(table_8(), "reference", "map", strata_areas=MAPPED_PIXELS, area_unit="ha")


def _tiny_map(path, crs, transform):
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8", nodata=255,
                       crs=crs, transform=transform) as ds:
        ds.write(np.repeat(np.array([1, 2], np.uint8), 50).reshape(1, 10, 10))
    return path


@pytest.mark.parametrize("crs, transform, fault", [
    (None, from_origin(0, 10, 1, 1), "has no CRS"),
    ("EPSG:4326", from_origin(10, 50, 0.001, 0.001), "geographic CRS"),
    ("EPSG:32615", from_origin(500000, 1000000, 30, 20), "non-square or rotated pixels"),
])
def test_pixel_area_needs_a_crs_and_square_pixels(tmp_path, crs, transform, fault):
    class_map = _tiny_map(tmp_path / "map.tif", crs, transform)
    table = {"map": np.array([1, 1, 2, 2]), "reference": np.array([1, 2, 2, 2])}
    with pytest.raises(ValueError, match=f"area_unit='ha': raster .*map.tif .*{fault}"):
        assess_map(table, "reference", "map", class_map=class_map, area_unit="ha")
    with pytest.warns(UserWarning, match=f"areas are in pixels and shares only: .*{fault}"):
        r = assess_map(table, "reference", "map", class_map=class_map)
    assert r.area_unit is None and r.area(0).value == pytest.approx(50 * 0.5 + 50 * 0)


def test_write_assessment_files(worked_example, tmp_path):
    files = write_assessment(worked_example, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "assessment.csv", "assessment.json", "assessment.png"]
    report = json.loads(files["json"].read_text())
    deforestation = report["classes"][0]
    assert deforestation["name"] == "deforestation" and round(deforestation["area"]["ha"]["estimate"]) == 21_158
    assert round(deforestation["area"]["ha"]["ci_high"] - deforestation["area"]["ha"]["estimate"]) == 6_158
    assert report["error_matrix"]["counts"] == TABLE_8.tolist()
    assert report["estimator"] == "Olofsson et al. (2014)" and report["pixel_area_m2"] == 900
    rows = files["csv"].read_text().splitlines()
    assert len(rows) == 5 and rows[0].startswith("class,name,sample_mapped,sample_reference,map_pixels")
    assert files["figure"].stat().st_size > 10_000


def test_design_label_assess_on_real_data(ndvi_class_map, label_points, tmp_path):
    sample = design_sample(ndvi_class_map, tmp_path / "sample.gpkg", n=150, min_per_class=30, seed=0)
    labelled = label_points(tmp_path / "sample.csv", tmp_path / "labelled.csv")
    result = assess_map(labelled, "reference", class_map=ndvi_class_map)  # map classes read at the points
    from_column = assess_map(labelled, "reference", "map_value", class_map=ndvi_class_map)
    assert result.counts.tolist() == from_column.counts.tolist() and result.n_used == len(sample) == 150
    assert result.class_names == ["sparse vegetation", "grassland and crops", "dense vegetation"]
    assert result.area_unit == "ha" and result.pixel_area_m2 == 900
    assert result.total_pixels == sum(sample.design.stratum_pixels)
    assert sum(result.area(k, "ha").value for k in range(3)) == pytest.approx(result.total_pixels * 0.09)
    assert 0.5 < result.overall_accuracy.value < 1 and result.overall_accuracy.se > 0  # the rules differ a little
    points = read_points(labelled)
    assert result.counts.sum() == (points.column("reference") != "").sum()


def test_thin_stratum_of_a_real_map_is_named(ndvi_class_map, label_points, tmp_path):
    design_sample(ndvi_class_map, tmp_path / "sample.gpkg", n=60, min_per_class=10, seed=1)
    points = read_points(label_points(tmp_path / "sample.csv", tmp_path / "labelled.csv"))
    reference = points.column("reference").copy()
    reference[np.flatnonzero(points.column("map_value") == 2)[1:]] = ""  # one dense-vegetation point labelled
    points.attributes["reference"] = reference
    with pytest.raises(ValueError, match=r"fewer than 2 labelled points: 2=dense vegetation \(1 point\)"), \
            pytest.warns(UserWarning, match="have no reference label"):
        assess_map(points, "reference", class_map=ndvi_class_map)


def test_a_class_the_map_never_predicts_is_estimated_from_its_omissions(tmp_path):
    """The map names three classes (CLASS_NAMES) but holds two; points labelled the third are omission errors."""
    class_map = _tiny_map(tmp_path / "map.tif", "EPSG:32615", from_origin(500000, 1000000, 30, 30))
    with rasterio.open(class_map, "r+") as ds:
        ds.update_tags(CLASS_NAMES=json.dumps(["none", "crop", "forest", "wetland"]))
    table = {"map": np.array([1, 1, 1, 1, 2, 2, 2, 2]),
             "reference": np.array(["crop", "crop", "crop", "wetland", "forest", "forest", "forest", "forest"])}
    result = assess_map(table, "reference", "map", class_map=class_map)
    assert result.class_names == ["none", "crop", "forest", "wetland"]
    wetland = result.class_names.index("wetland")
    assert result.area(wetland).value == pytest.approx(50 * 0.25)  # a quarter of the 'crop' stratum's 50 pixels
    assert result.users_accuracy[wetland].value is None and result.producers_accuracy[wetland].value == 0


def test_map_assessment_imports_without_tensorflow():
    script = ("import sys; from rskeras.evaluation import assess_map, design_sample, write_assessment; "
              "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
