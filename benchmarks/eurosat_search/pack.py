"""Pack the EuroSAT RGB JPEGs into a few files for a machine the folder cannot be copied to whole.

Writes ``OUT_DIR/<split>.<i>.bin`` (the JPEG bytes of consecutive images, concatenated, at most
``--max-mib`` MiB each) and ``OUT_DIR/index.json`` (per split: file name, label, byte offset and length
of each image, which part it is in, and the SHA-256 of every part). The JPEG bytes are kept as they
are (no re-encoding): :func:`load_split` decodes them with Pillow. Pillow's pixels equal
``tf.io.decode_jpeg(..., dct_method="INTEGER_ACCURATE")`` exactly; rskeras decodes with TensorFlow's default
(``INTEGER_FAST``), which differs by 1.27 grey levels on average and 23 at most (2,000 validation images,
``--check-decoder``).

    .venv/bin/python benchmarks/eurosat_search/pack.py ../shared/data/eurosat_rgb PACKED --max-mib 37
    python3 benchmarks/eurosat_search/pack.py SMOKE_CACHE PACKED --check   # on the other machine
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
from pathlib import Path

import numpy as np


def pack(data: Path, out: Path, max_mib: float = 40.0) -> dict:
    """Pack ``train`` and ``validation`` of ``data`` into ``out`` (parts of at most ``max_mib`` MiB)."""
    out.mkdir(parents=True, exist_ok=True)
    index = {"class_names": json.loads((data / "label_map.json").read_text()), "splits": {}, "parts": {}}
    limit = int(max_mib * 2**20)

    def flush(name: str, buffer: bytearray) -> None:
        (out / name).write_bytes(buffer)
        index["parts"][name] = {"bytes": len(buffer), "sha256": hashlib.sha256(buffer).hexdigest()}

    for split in ("train", "validation"):
        with open(data / f"{split}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        entries, part, buffer = [], 0, bytearray()
        for row in rows:
            blob = (data / row["filename"]).read_bytes()
            if len(buffer) + len(blob) > limit:
                flush(f"{split}.{part}.bin", buffer)
                part, buffer = part + 1, bytearray()
            entries.append([row["filename"], int(row["label"]), f"{split}.{part}.bin", len(buffer), len(blob)])
            buffer += blob
        flush(f"{split}.{part}.bin", buffer)
        index["splits"][split] = entries
    (out / "index.json").write_text(json.dumps(index))
    return index


def load_split(packed: Path, split: str, workers: int = 8, present_only: bool = False
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (n, 64, 64, 3), labels int32 (n,))`` of ``split``, decoded from the packed parts
    (with ``present_only``, from the parts that are there; each part's checksum is verified)."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    index = json.loads((packed / "index.json").read_text())
    entries = index["splits"][split]
    names = sorted({e[2] for e in entries})
    if present_only:
        names = [name for name in names if (packed / name).exists()]
        entries = [e for e in entries if e[2] in names]
    parts = {name: (packed / name).read_bytes() for name in names}
    for name, blob in parts.items():
        if hashlib.sha256(blob).hexdigest() != index["parts"][name]["sha256"]:
            raise ValueError(f"{packed / name}: checksum differs from index.json (incomplete copy?)")

    def decode(e):
        return np.asarray(Image.open(io.BytesIO(parts[e[2]][e[3]:e[3] + e[4]])).convert("RGB"))

    with ThreadPoolExecutor(workers) as pool:
        images = np.stack(list(pool.map(decode, entries))) if entries else np.zeros((0, 64, 64, 3), np.uint8)
    return images, np.array([e[1] for e in entries], np.int32)


def decoder_check(data: Path, n: int = 500) -> dict:
    """Largest and mean absolute difference between Pillow's and ``tf.io.decode_jpeg``'s pixels on ``n`` images."""
    import tensorflow as tf
    from PIL import Image

    with open(data / "validation.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:n]
    worst, total = 0, 0.0
    for row in rows:
        blob = (data / row["filename"]).read_bytes()
        a = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"), np.int16)
        b = tf.io.decode_jpeg(blob, channels=3).numpy().astype(np.int16)
        worst, total = max(worst, int(np.abs(a - b).max())), total + float(np.abs(a - b).mean())
    return {"images": len(rows), "max_abs_diff": worst, "mean_abs_diff": total / len(rows)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, help="EuroSAT RGB folder (class folders, train.csv, validation.csv)")
    p.add_argument("out", type=Path, help="output folder")
    p.add_argument("--max-mib", type=float, default=40.0, help="largest part in MiB")
    p.add_argument("--check-decoder", action="store_true", help="compare Pillow with tf.io.decode_jpeg first")
    p.add_argument("--check", action="store_true", help="instead: verify and decode the parts present in OUT "
                   "(DATA unused), and write the first of them as a small train / validation cache to DATA")
    args = p.parse_args(argv)
    if args.check:
        x, y = load_split(args.out, "train", present_only=True)
        print(f"{args.out}: {len(x)} training images decoded from the parts present, checksums match")
        args.data.mkdir(parents=True, exist_ok=True)
        for split, part in (("train", slice(512, None)), ("validation", slice(0, 512))):
            np.save(args.data / f"{split}_x.npy", x[part])
            np.save(args.data / f"{split}_y.npy", y[part])
        return
    if args.check_decoder:
        print(json.dumps(decoder_check(args.data)))
    index = pack(args.data, args.out, args.max_mib)
    print(json.dumps(index["parts"], indent=1))


if __name__ == "__main__":
    main()
