"""Export pixel samples at field points from Earth Engine as TFRecord tables, split into train/validation/test
by region: the table export of the pixel workflow (the first model of the lecture, and Earth Engine's own
Keras tutorial).

Builds the image stack (Sentinel-2 composite, Sentinel-1 VV/VH, DEM; see rskeras.ee_export.stack), keeps the
points of a FeatureCollection asset (field data with an integer class, or a value, per point) that fall in
each split's grid cells and samples the stack at them with ``image.sampleRegions`` (one record per point: a
float per band plus the label property). One ``Export.table.toCloudStorage`` (or ``toDrive``) TFRecord per
split. Train on the result with ``rskeras.workflows.train_pixel_model`` or ``rskeras train`` (``model: ann``,
``data.source: earthengine``).

    python pipelines/export_pixel_samples.py --dry-run            # print the requests, no credentials
    python pipelines/export_pixel_samples.py --project my-project  # start the exports
"""

from __future__ import annotations

import sys

from _common import cells_region, check_stack, number, run, setting, table_export

NAME = "export_pixel_samples"


def build(cfg: dict, dry_run: bool) -> tuple[list, dict]:
    import ee

    from rskeras.ee_export.splits import assign_grid_splits
    from rskeras.ee_export.stack import build_stack

    check_stack(cfg)
    scale = number(cfg, "scale")
    asset, label = str(setting(cfg, "points.asset")), str(setting(cfg, "points.property"))
    image, names, _ = build_stack({**cfg, "label": None})
    points = ee.FeatureCollection(asset)
    split_cfg = cfg["split"]
    cells = assign_grid_splits(cfg["region"]["bbox"], float(split_cfg["cell_deg"]), split_cfg["fractions"],
                               int(split_cfg.get("seed", 0)))
    selectors = [*names, label]
    tasks, splits = [], {}
    for split in [k for k, v in split_cfg["fractions"].items() if v > 0]:
        mine = [c for c in cells if c.split == split]
        samples = image.sampleRegions(collection=points.filterBounds(cells_region([c.bounds for c in mine])),
                                      properties=[label], scale=scale, tileScale=int(cfg.get("tile_scale", 4)),
                                      geometries=False)
        tasks.append(table_export(samples, f"{cfg['output']['prefix']}_{split}", cfg["output"], selectors))
        splits[split] = {"cells": len(mine), "cell_bounds": [list(c.bounds) for c in mine]}
    summary = {
        "bands": names,
        "label": label,
        "points": asset,
        "selectors": selectors,
        "scale_m": scale,
        "splits": splits,
        "read_with": f"rskeras.workflows.train_pixel_model(files, label={label!r}, bands={names})",
    }
    return tasks, summary


if __name__ == "__main__":
    sys.exit(run(NAME, __doc__, build))
