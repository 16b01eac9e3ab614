"""Export a scene from Earth Engine as TFRecord patches for prediction (plus its mixer.json).

``Export.image.toCloudStorage`` / ``toDrive`` with ``fileFormat="TFRecord"`` and ``formatOptions``
``patchDimensions`` [width, height], ``kernelSize`` [kx, ky] (each stored patch carries kx//2 and
ky//2 extra pixels on every side, so a model sees context at patch edges), ``compressed`` (GZIP) and
``maxFileSize``. Earth Engine writes ``<prefix>-00000.tfrecord.gz ...`` and ``<prefix>mixer.json``.
Read them with ``rskeras.data.read_scene_export`` and write predictions back with
``rskeras.data.predict_scene``; upload with ``pipelines/upload_predictions.py``.

    python pipelines/export_scene.py --dry-run
"""

from __future__ import annotations

import sys

from _common import check_stack, pixel_pair, run, setting

NAME = "export_scene"


def build(cfg: dict, dry_run: bool) -> tuple[list, dict]:
    import ee

    from rskeras.ee_export.stack import build_stack

    cfg = {**cfg, "label": None}
    check_stack(cfg)
    patch = pixel_pair(cfg, "format.patch_dimensions", minimum=1)
    kernel = pixel_pair(cfg, "format.kernel_size", minimum=0, default=[0, 0])
    fmt = setting(cfg, "format")
    image, names, _ = build_stack(cfg)
    format_options = {"patchDimensions": patch, "compressed": bool(fmt.get("compressed", True)), "maxFileSize": int(fmt.get("max_file_size", 100 * 2**20))}
    if any(kernel):
        format_options["kernelSize"] = kernel
    out = cfg["output"]
    w, s, e, n = cfg["region"]["bbox"]
    kwargs = dict(
        image=image.select(names),
        description=out["prefix"],
        region=ee.Geometry.Rectangle([w, s, e, n], "EPSG:4326", False),
        scale=float(cfg["scale"]),
        crs=cfg.get("crs", "EPSG:4326"),
        fileFormat="TFRecord",
        formatOptions=dict(format_options),  # ee pops the keys it converts
        maxPixels=float(cfg.get("max_pixels", 1e10)),
    )
    if out["destination"] == "gcs":
        task = ee.batch.Export.image.toCloudStorage(bucket=out["bucket"], fileNamePrefix=f"{out['folder']}/{out['prefix']}", **kwargs)
    elif out["destination"] == "drive":
        task = ee.batch.Export.image.toDrive(folder=out["folder"], fileNamePrefix=out["prefix"], **kwargs)
    else:
        raise ValueError(f"output.destination must be 'gcs' or 'drive', got {out['destination']!r}")
    summary = {
        "bands": names,
        "formatOptions": format_options,
        "stored_patch": [patch[0] + 2 * (kernel[0] // 2), patch[1] + 2 * (kernel[1] // 2)],
        "mixer": f"{out['prefix']}mixer.json",
        "read_with": f"rskeras.data.read_scene_export(files, bands={names}, kernel_size=({kernel[1]}, {kernel[0]}))",
    }
    return [task], summary


if __name__ == "__main__":
    sys.exit(run(NAME, __doc__, build))
