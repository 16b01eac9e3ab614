"""Export training patches from Earth Engine as TFRecord, split into train/validation/test by region.

Builds the image stack (Sentinel-2 composite, Sentinel-1 VV/VH, DEM; see rskeras.ee_export.stack)
and a label (ESA WorldCover or a field-data FeatureCollection: classes; or Sentinel-2 NDVI: a
regression target), turns every pixel into a patch with ``neighborhoodToArray``, samples patch
centres inside the grid cells of each split (stratified by class for a class label; cells shrunk by
half a patch so splits never share pixels) and exports one TFRecord table per split
(``Export.table.toCloudStorage`` or ``toDrive``) with the selected bands. Read the result with
``rskeras.data.ee_patch_dataset``.

    python pipelines/export_training_patches.py --dry-run            # print the requests, no credentials
    python pipelines/export_training_patches.py --project my-project  # start the exports
    python pipelines/export_training_patches.py --dry-run --config pipelines/export_training_patches_ndvi.yaml
"""

from __future__ import annotations

import math
import sys

from _common import check_stack, number, run

NAME = "export_training_patches"
METRES_PER_DEGREE = 111_320.0


def build(cfg: dict, dry_run: bool) -> tuple[list, dict]:
    import ee

    from rskeras.ee_export.splits import assign_grid_splits
    from rskeras.ee_export.stack import CATEGORICAL_LABELS, build_stack

    check_stack(cfg)
    patch = number(cfg, "patch_size", minimum=1, integer=True)
    scale = number(cfg, "scale")
    image, names, label = build_stack(cfg)
    ones = ee.List.repeat(ee.List.repeat(1, patch), patch)
    kernel = ee.Kernel.fixed(patch, patch, ones)
    label_cfg = cfg.get("label") or {}
    label_name = label_cfg.get("name", "label")
    mode = label_cfg.get("mode", "patch")  # "patch": a mask band per patch; "center": the centre pixel's class
    if mode not in ("patch", "center"):
        raise ValueError(f"label.mode must be 'patch' or 'center', got {mode!r}")
    stratified = label is not None and label_cfg["source"] in CATEGORICAL_LABELS

    stack = image.addBands(label) if label is not None and mode == "patch" else image
    arrays = stack.neighborhoodToArray(kernel)
    selectors = list(names)
    if label is not None and mode == "center":
        arrays = arrays.addBands(label)  # the centre pixel's value as a scalar property
        selectors.append(label_name)
    elif label is not None:
        selectors.append(label_name)
        if stratified:  # the centre pixel's class as a scalar, to stratify the sample by
            arrays = arrays.addBands(label.rename("class"))
            selectors.append("class")

    split_cfg = cfg["split"]
    cells = assign_grid_splits(cfg["region"]["bbox"], float(split_cfg["cell_deg"]), split_cfg["fractions"], int(split_cfg.get("seed", 0)))
    margin_deg = patch / 2 * scale / METRES_PER_DEGREE  # latitude; longitude degrees shrink with cos(latitude)
    max_lat = max(abs(v) for v in cfg["region"]["bbox"][1::2])
    margin_lon = margin_deg / max(math.cos(math.radians(max_lat)), 1e-6)
    per_split = split_cfg.get("samples_per_class" if stratified else "samples", 100)
    out = cfg["output"]
    tasks, splits = [], {}
    for split in [k for k, v in split_cfg["fractions"].items() if v > 0]:
        mine = [c for c in cells if c.split == split]
        rects = [c.shrunk(margin_lon, margin_deg) for c in mine]
        rects = [r for r in rects if r[0] < r[2] and r[1] < r[3]]
        if not rects:
            raise ValueError(f"split {split!r}: its grid cells are smaller than a patch; use a larger split.cell_deg")
        region = ee.Geometry.MultiPolygon([[[[w, s], [e, s], [e, n], [w, n], [w, s]]] for w, s, e, n in rects], "EPSG:4326", False)
        n_points = int(per_split[split] if isinstance(per_split, dict) else per_split)
        common = dict(region=region, scale=scale, seed=int(split_cfg.get("seed", 0)), geometries=False, tileScale=int(cfg.get("tile_scale", 8)))
        if stratified:
            samples = arrays.stratifiedSample(numPoints=n_points, classBand="class" if mode == "patch" else label_name, dropNulls=True, **common)
        else:
            samples = arrays.sample(numPixels=n_points, dropNulls=True, **common)
        description = f"{out['prefix']}_{split}"
        kwargs = dict(collection=samples, description=description, fileFormat="TFRecord", selectors=selectors)
        if out["destination"] == "gcs":
            task = ee.batch.Export.table.toCloudStorage(bucket=out["bucket"], fileNamePrefix=f"{out['folder']}/{description}", **kwargs)
        elif out["destination"] == "drive":
            task = ee.batch.Export.table.toDrive(folder=out["folder"], fileNamePrefix=description, **kwargs)
        else:
            raise ValueError(f"output.destination must be 'gcs' or 'drive', got {out['destination']!r}")
        tasks.append(task)
        splits[split] = {"cells": len(mine), "cell_bounds": [list(c.bounds) for c in mine], "samples_per_class" if stratified else "samples": n_points}
    summary = {
        "bands": names,
        "label": label_name if label is not None else None,
        "label_mode": mode if label is not None else None,
        "selectors": selectors,
        "patch_size": patch,
        "scale_m": scale,
        "guard_margin_deg": {"lon": margin_lon, "lat": margin_deg},
        "splits": splits,
        "read_with": f"rskeras.data.ee_patch_dataset(files, bands={names}, label={label_name!r}, patch_size={patch})",
    }
    return tasks, summary


if __name__ == "__main__":
    sys.exit(run(NAME, __doc__, build))
