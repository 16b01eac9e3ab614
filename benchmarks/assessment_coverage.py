"""Benchmark: do rskeras' 95 % confidence intervals of class areas cover the truth 95 % of the time?

A synthetic truth raster (600 x 600 px of 30 m, four classes in patches of shares about 3, 7, 30 and
60 %) and a map made from it with a known error structure: each truth pixel keeps its class with the
probability on the diagonal of ``CONFUSION`` and otherwise takes another class with the row's
probabilities, independently per pixel. The map is written as a uint8 GeoTIFF (nodata 255 on a border)
and sampled again and again with :func:`rskeras.evaluation.design_sample`; the reference class of
each point is the truth pixel; :func:`rskeras.evaluation.assess_map` estimates the areas and
accuracies. Counted per class: the share of draws whose interval ``estimate +- 1.96 SE`` holds the
true area (and overall, user's and producer's accuracy), the mean estimate against the truth, and
the mean SE against the standard deviation of the estimates over the draws.

Designs: stratified by map class with at least 50 points per class (Olofsson et al. 2014 estimators),
with ``--n`` points and with four times as many; simple random (post-stratified by map class);
stratified by quadrant of the map, i.e. strata that are not the map classes (Stehman 2014
estimators), equal allocation.

    python benchmarks/assessment_coverage.py            # 2,000 draws per design
    python benchmarks/assessment_coverage.py --draws 100
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from rasterio.transform import from_origin  # noqa: E402

from rskeras.evaluation import assess_map, design_sample  # noqa: E402
from rskeras.io import atomic_write_text  # noqa: E402

CLASSES = ["deforestation", "forest gain", "stable forest", "stable non-forest"]
SHARES = [0.03, 0.07, 0.30, 0.60]  # of the truth, roughly (patches by quantiles of a smooth field)
CONFUSION = np.array([  # P(map class | truth class), rows truth
    [0.80, 0.02, 0.10, 0.08],
    [0.03, 0.75, 0.12, 0.10],
    [0.01, 0.01, 0.93, 0.05],
    [0.005, 0.005, 0.03, 0.96],
])
SIZE, BORDER, NODATA = 600, 12, 255
RESULTS = Path(__file__).resolve().parent / "results" / "assessment_coverage.json"


def synthetic_truth(rng: np.random.Generator) -> np.ndarray:
    """``(SIZE, SIZE)`` uint8 truth classes in patches: quantiles of a smoothed random field."""
    coarse = rng.normal(size=(SIZE // 20, SIZE // 20))
    field = np.kron(coarse, np.ones((20, 20))) + 0.35 * rng.normal(size=(SIZE, SIZE))
    edges = np.quantile(field, np.cumsum(SHARES)[:-1])
    return np.digitize(field, edges).astype(np.uint8)


def synthetic_map(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The map: each pixel's class drawn from ``CONFUSION[truth]``; nodata on a border."""
    cumulative = np.cumsum(CONFUSION, axis=1)[truth]
    mapped = (rng.random(truth.shape)[..., None] > cumulative).sum(axis=-1).astype(np.uint8)
    mapped[:BORDER] = NODATA
    return mapped


def write_map(mapped: np.ndarray, path: Path) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="uint8", nodata=NODATA,
                       crs="EPSG:32615", transform=from_origin(500_000, 2_000_000, 30, 30)) as ds:
        ds.write(mapped, 1)
    return path


def write_quadrants(path: Path) -> Path:
    quadrant = (np.arange(SIZE)[:, None] >= SIZE // 2) * 2 + (np.arange(SIZE)[None, :] >= SIZE // 2) + 1
    with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="uint8",
                       crs="EPSG:32615", transform=from_origin(500_000, 2_000_000, 30, 30)) as ds:
        ds.write(quadrant.astype(np.uint8), 1)
    return path


def true_values(truth: np.ndarray, mapped: np.ndarray) -> dict[str, np.ndarray]:
    """Areas (pixels), overall, user's and producer's accuracy of the map over its valid pixels."""
    valid = mapped != NODATA
    t, m = truth[valid].astype(np.int64), mapped[valid].astype(np.int64)
    matrix = np.bincount(m * 4 + t, minlength=16).reshape(4, 4)  # rows map, columns truth
    hits = np.diag(matrix)
    return {"area_pixels": matrix.sum(axis=0).astype(float), "overall_accuracy": hits.sum() / matrix.sum(),
            "users_accuracy": hits / matrix.sum(axis=1), "producers_accuracy": hits / matrix.sum(axis=0)}


def one_draw(design: str, map_path: Path, quadrants: Path, truth: np.ndarray, map_pixels: dict, seed: int, n: int):
    """Estimates of one sample: ``{name: (K,) or scalar (estimate, se)}``."""
    if design == "stratified by map class":
        sample = design_sample(map_path, n=n, min_per_class=50, seed=seed)
    elif design == "simple random":
        sample = design_sample(map_path, n=n, method="random", seed=seed)
    else:
        sample = design_sample(map_path, n=n, strata=quadrants, allocation="equal", seed=seed)
    points = sample.points
    table = {"map": points.column("map_value"), "reference": truth[points.column("row"), points.column("col")],
             "stratum": points.column("stratum")}
    if design == "strata are quadrants, not map classes":
        strata = dict(zip(sample.design.strata, sample.design.stratum_pixels))
        result = assess_map(table, "reference", "map", strata_column="stratum", strata_areas=strata,
                            class_names=dict(enumerate(CLASSES)))
    else:
        result = assess_map(table, "reference", "map", strata_areas=map_pixels)
    order = [result.classes.index(k) for k in range(4)]  # class values 0..3 in the result's order
    estimates = {"area_pixels": _pairs([result.area(i, "pixels") for i in range(4)], order),
                 "overall_accuracy": _pairs([result.overall_accuracy], [0]),
                 "users_accuracy": _pairs(result.users_accuracy, order),
                 "producers_accuracy": _pairs(result.producers_accuracy, order)}
    return estimates, result.z


def _pairs(estimates: list, order: list[int]) -> np.ndarray:
    """``(K, 2)`` estimate and SE of each class, NaN where undefined."""
    return np.array([[estimates[i].value, estimates[i].se] for i in order], dtype=float)


def summarise(draws: list[dict], truth: dict, z: float) -> dict:
    """Per quantity and class: CI coverage, mean estimate, truth, mean SE and SD of the estimates."""
    out = {}
    for name, true in truth.items():
        stack = np.stack([d[name] for d in draws])  # (draws, K, 2)
        estimate, se = stack[..., 0], stack[..., 1]
        covered = np.abs(estimate - np.atleast_1d(true)) <= z * se
        labels = ["overall"] if stack.shape[1] == 1 else CLASSES
        out[name] = {label: {"coverage": float(covered[:, k].mean()), "truth": float(np.atleast_1d(true)[k]),
                             "mean_estimate": float(estimate[:, k].mean()), "mean_se": float(se[:, k].mean()),
                             "sd_of_estimates": float(estimate[:, k].std(ddof=1))}
                     for k, label in enumerate(labels)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2000, help="samples per design (default 2000)")
    parser.add_argument("--n", type=int, default=400, help="points per sample (default 400; also 4x for the "
                        "stratified design)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    truth = synthetic_truth(rng)
    mapped = synthetic_map(truth, rng)
    true = true_values(truth, mapped)
    map_pixels = {int(k): int(v) for k, v in zip(*np.unique(mapped[mapped != NODATA], return_counts=True))}
    designs = [("stratified by map class", args.n), ("stratified by map class", 4 * args.n),
               ("simple random", args.n), ("strata are quadrants, not map classes", args.n)]
    report = {"draws": args.draws, "n": args.n, "raster": [SIZE, SIZE], "pixel_m": 30, "classes": CLASSES,
              "confusion_p_map_given_truth": CONFUSION.tolist(), "map_pixels": map_pixels,
              "true_area_pixels": true["area_pixels"].tolist(), "designs": {}}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # notes such as "areas in pixels only" are expected here
        map_path, quadrants = write_map(mapped, Path(tmp) / "map.tif"), write_quadrants(Path(tmp) / "quadrants.tif")
        for design, n in designs:
            name = f"{design}, n = {n}"
            start = time.perf_counter()
            draws = []
            for seed in range(args.draws):
                estimates, z = one_draw(design, map_path, quadrants, truth, map_pixels, seed, n)
                draws.append(estimates)
            report["designs"][name] = dict(summarise(draws, true, z), seconds=time.perf_counter() - start)
            area = report["designs"][name]["area_pixels"]
            print(f"{name}: area CI coverage " + ", ".join(f"{c} {area[c]['coverage']:.3f}" for c in CLASSES)
                  + f"; overall accuracy {report['designs'][name]['overall_accuracy']['overall']['coverage']:.3f}"
                  + f" ({time.perf_counter() - start:.0f} s)")
    report["machine"] = {"platform": platform.platform(), "numpy": np.__version__}
    RESULTS.parent.mkdir(exist_ok=True)
    atomic_write_text(RESULTS, json.dumps(report, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
