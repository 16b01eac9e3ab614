"""The main job (``rskeras demo``): rskeras' workflows on real data.

The pixel workflow on the real HLS L30 chip (10 bands, 30 m):

1. field points: random points in longitude/latitude, labelled from the imagery
   (land-cover class from NDVI thresholds; NDVI itself as a value to estimate) and
   saved as a CSV field file, as a survey would deliver it;
2. a pixel-wise ANN per task, trained on band vectors sampled at the points and
   evaluated on held-out points: land cover from seven reflectance bands, NDVI
   from the five bands that are neither red nor near-infrared;
3. both models applied to every pixel: a class map (with probabilities) and an
   NDVI raster, georeferenced like the scene;
4. ``metrics.json`` and a quick-look figure.

Then EuroSAT (Helber et al., 2019), image classification of 64x64 Sentinel-2 RGB patches into
10 land-use classes: a classifier sized to the hardware (GPU: ResNet-50 in mixed precision;
CPU: a compact residual network, as many epochs as fit the time budget) trained on the train
split, evaluated on the validation split (``eurosat/evaluation/metrics.json`` and
``confusion_matrix.png``), and exported under ``saved_models/`` (``.keras`` and SavedModel).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from rskeras.data import Points, find_data, read_points, sample_raster
from rskeras.data.reference import random_points, threshold_classes
from rskeras.data.sensors import ndvi
from rskeras.io import atomic_path, atomic_write_text

HLS_FILE = Path("rasters") / "hls_10band_224.tif"
EUROSAT_FOLDER = "eurosat_rgb"
LAND_COVER = {"thresholds": [0.3, 0.45], "names": ["sparse vegetation", "grassland and crops", "dense vegetation"]}
LAND_COVER_BANDS = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]
NDVI_BANDS = ["coastal", "blue", "green", "swir1", "swir2"]


def find_eurosat(data: str | os.PathLike | None = None) -> Path | None:
    """The EuroSAT RGB folder: ``data`` itself or its ``eurosat_rgb/``, else as :func:`rskeras.data.find_data` looks.

    None when there is none: the demo then reads EuroSAT through tensorflow-datasets.
    """
    if data is not None and (Path(data) / "label_map.json").exists():
        return Path(data)
    try:
        return find_data(data, must_contain=Path(EUROSAT_FOLDER) / "label_map.json") / EUROSAT_FOLDER
    except FileNotFoundError:
        return None


def make_field_points(scene: Path, out: Path, n: int, seed: int) -> Path:
    """Random lon/lat points over ``scene`` labelled from its NDVI; written to ``out`` (CSV)."""
    points = random_points(scene, n, seed=seed)
    samples = sample_raster(scene, points, bands=["red", "nir"], sensor="hls_l30")
    index = ndvi(samples.values[:, 1], samples.values[:, 0])
    valid = np.isfinite(index)  # red + NIR = 0 has no NDVI: a surveyor would not record it
    keep = samples.index[valid]
    field = Points(points.x[keep], points.y[keep], points.crs, {
        "land_cover": threshold_classes(index[valid], LAND_COVER["thresholds"], LAND_COVER["names"]),
        "ndvi": np.round(index[valid], 4),
    }, source=str(out))
    return field.write(out)


def run_demo(data: str | os.PathLike | None = None, out: str | os.PathLike = "outputs/demo", quick: bool = False,
             seed: int = 0, eurosat_minutes: float | None = None, export_dir: str | os.PathLike = "saved_models",
             model: str = "auto") -> dict:
    """Run the main job; returns the metrics written to ``out/metrics.json``.

    Args:
        data: the real-data folder (default: ``$RSKERAS_DATA``, then ``../shared/data``).
        out: output folder.
        quick: fewer epochs and a EuroSAT subset (as in CI).
        seed: random seed.
        eurosat_minutes: time budget of the EuroSAT part (default 11, quick 2).
        export_dir: where the EuroSAT model folder ``eurosat_<model>_demo/`` is written.
        model: the EuroSAT classifier: ``"auto"`` (GPU: ``resnet50``; CPU: ``compact_resnet_small``)
            or a key of :data:`rskeras.training.recipes.EUROSAT_MODELS`.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    try:
        scene = find_data(data, must_contain=HLS_FILE) / HLS_FILE
    except FileNotFoundError as err:
        print(f"rskeras demo: skipping the pixel workflow: {err}")
    else:
        report.update(pixel_workflow(scene, out, quick, seed))
    report["eurosat"] = eurosat_workflow(data, out / "eurosat", quick, seed, eurosat_minutes, export_dir, model)
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=2))
    print(f"done: {out}/metrics.json")
    return report


def eurosat_workflow(data: str | os.PathLike | None, out: Path, quick: bool, seed: int, minutes: float | None,
                     export_dir: str | os.PathLike, model: str = "auto") -> dict:
    """Train, evaluate and export a EuroSAT classifier sized to the hardware; returns its summary."""
    import tensorflow as tf

    from rskeras.models import get_model_family
    from rskeras.training.recipes import eurosat_model, train_eurosat

    root = find_eurosat(data)
    gpu = bool(tf.config.list_physical_devices("GPU"))
    if model == "auto":
        model = "resnet50" if gpu else "compact_resnet_small"
    family = get_model_family(eurosat_model(model).family)
    minutes = minutes or (2.0 if quick else 11.0)
    where = root if root is not None else "tensorflow-datasets eurosat/rgb (downloaded on first use)"
    print(f"EuroSAT: {model} ({family.description}; {family.paper}) on {'GPU, mixed precision' if gpu else 'CPU'}, "
          f"{minutes:g} minute budget, data {where}")
    report = train_eurosat(
        root, out, model=model, minutes=minutes, export_dir=export_dir, export_name=f"eurosat_{model}_demo",
        models_config=False,  # a local demo model: saved_models/models.config lists the committed models only
        limit=4096 if quick else None, validation_limit=1024 if quick else None, seed=seed,
    )
    summary = report["summary"]
    print(f"      validation overall accuracy {summary['validation_accuracy']:.4f}, kappa {summary['kappa']:.4f} "
          f"after {summary['epochs']} epoch(s) ({summary['train_images_per_second']:.0f} images/s); "
          f"{out}/evaluation/confusion_matrix.png; model in {summary.get('export')}")
    return summary


def pixel_workflow(scene: Path, out: Path, quick: bool, seed: int) -> dict:
    """The pixel workflow on the HLS chip; returns its metrics (land cover and NDVI)."""
    from rskeras.inference import predict_raster
    from rskeras.workflows import train_pixel_model

    epochs = 40 if quick else 150
    print(f"rskeras demo: pixel workflow on {scene} -> {out}/")
    field_file = make_field_points(scene, out / "field_points.csv", n=1500, seed=seed)
    points = read_points(field_file)
    print(f"[1/3] {len(points)} field points written to {field_file}")

    report: dict = {"scene": str(scene), "field_points": str(field_file), "epochs": epochs}
    print("[2/3] land cover (3 classes from NDVI thresholds) from 7 reflectance bands")
    lc = train_pixel_model(scene, points, "land_cover", task="multiclass", bands=LAND_COVER_BANDS, sensor="hls_l30",
                           class_names=LAND_COVER["names"], epochs=epochs, seed=seed)
    _save_model(lc.model, out / "land_cover_ann.keras")
    predict_raster(lc.model, scene, out / "land_cover.tif", bands=lc.bands, probabilities=True)
    report["land_cover"] = lc.metrics
    print(f"      held-out overall accuracy {lc.metrics['overall_accuracy']:.3f}, kappa {lc.metrics['kappa']:.3f}")

    print("[3/3] NDVI estimated from coastal, blue, green and SWIR bands (no red, no NIR)")
    nd = train_pixel_model(scene, points, "ndvi", task="regression", bands=NDVI_BANDS, sensor="hls_l30",
                           epochs=epochs, seed=seed)
    _save_model(nd.model, out / "ndvi_ann.keras")
    predict_raster(nd.model, scene, out / "ndvi.tif", bands=nd.bands)
    report["ndvi"] = nd.metrics
    print(f"      held-out MAE {nd.metrics['mae']:.4f}, RMSE {nd.metrics['rmse']:.4f}, R² {nd.metrics['r2']:.3f}")

    quicklook(scene, out / "land_cover.tif", out / "ndvi.tif", out / "quicklook.png", LAND_COVER["names"])
    print(f"      {out}/land_cover.tif, land_cover_probabilities.tif, ndvi.tif, quicklook.png")
    return report


def _save_model(model, path: Path) -> None:
    with atomic_path(path) as tmp:
        model.save(tmp)


def quicklook(scene: Path, classes: Path, values: Path, dst: Path, class_names: list[str]) -> Path:
    """A PNG with the true-colour scene, the class map and the estimated NDVI side by side."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone
    from matplotlib.colors import ListedColormap

    from rskeras.data.rasters import open_raster

    with open_raster(scene) as ds:
        rgb = ds.read([4, 3, 2]).astype(float).transpose(1, 2, 0)
    rgb = np.clip(rgb / np.nanpercentile(rgb, 98), 0, 1)
    with open_raster(classes) as ds:
        cmap = ds.colormap(1)
        class_map = np.ma.masked_equal(ds.read(1), ds.nodata)
    with open_raster(values) as ds:
        ndvi_map = np.ma.masked_equal(ds.read(1), ds.nodata)
    colours = ListedColormap([np.array(cmap[i][:3]) / 255 for i in range(len(class_names))])
    fig = Figure(figsize=(15, 5), layout="constrained")
    axes = fig.subplots(1, 3)
    axes[0].imshow(rgb)
    axes[0].set_title("HLS true colour")
    im = axes[1].imshow(class_map, cmap=colours, vmin=-0.5, vmax=len(class_names) - 0.5, interpolation="nearest")
    cbar = fig.colorbar(im, ax=axes[1], ticks=range(len(class_names)))
    cbar.ax.set_yticklabels(class_names)
    axes[1].set_title("land cover (pixel ANN)")
    im = axes[2].imshow(ndvi_map, cmap="RdYlGn", vmin=0, vmax=0.7)
    fig.colorbar(im, ax=axes[2], label="NDVI")
    axes[2].set_title("NDVI estimated without red and NIR")
    for ax in axes:
        ax.set_axis_off()
    with atomic_path(dst) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return dst
