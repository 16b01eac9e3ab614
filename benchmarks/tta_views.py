"""Benchmark: which test-time views and which way of combining them help a EuroSAT model (not part of the tests).

Predicts EuroSAT's validation split (5,400 RGB patches of 64 x 64 px) in views of each patch and counts the
patches right for each way of combining them:

- ``plain``: the patch as it is;
- ``dihedral_mean``: the mean probability of its 8 flips and rotations (``rskeras evaluate --tta``);
- ``dihedral_log_mean``: the mean log-probability of the same 8 views;
- ``dihedral_vote``: their majority vote (ties to the larger mean probability);
- ``shift_dy_dx``: the patch moved by ``dy``, ``dx`` pixels (``--shift`` of 1: the four diagonal moves),
  its border filled by reflection, as a single view; ``dihedral_shift_mean``: the mean of the 8 flips and
  rotations of the patch and of each shifted patch (40 views);
- ``size_S`` and ``dihedral_size_S_mean``: the patch resized to S x S px (bilinear, antialiased), alone and
  in its 8 flips and rotations (the fully convolutional network takes any size).

With ``--ensemble``, also ``ensemble``: each of those combinations averaged over the models given (the mean
of their probabilities, log-probabilities or votes), as an ensemble of the models would predict.

The validation split also chose the committed model, so a way of combining that wins on one model by a few
images is noise unless it wins on the others too: give several models.

    python benchmarks/tta_views.py --model run7=saved_models/eurosat_compact_resnet/eurosat_compact_resnet.keras \\
        --model run9=/tmp/es2/export/eurosat_compact_resnet/eurosat_compact_resnet.keras --out /tmp/views.json
    python benchmarks/tta_views.py --limit 256 --sizes 56      # a quick look at the committed model
    python benchmarks/tta_views.py --model a=A.keras --model b=B.keras --shift 0 --ensemble --out /tmp/ens.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import rskeras  # noqa: E402  (before TensorFlow: turns oneDNN on)
from rskeras.data import find_data  # noqa: E402
from rskeras.data.eurosat_dataset import eurosat  # noqa: E402
from rskeras.inference.uncertainty import dihedral_predictions  # noqa: E402
from rskeras.io import atomic_write_text  # noqa: E402

MODEL = REPO / "saved_models" / "eurosat_compact_resnet" / "eurosat_compact_resnet.keras"


def validation_split(root: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 64, 64, 3) float32 0-255, class indices (n,))`` of EuroSAT's validation split."""
    xs, ys = [], []
    for x, y in eurosat(root, split="validation", batch_size=256, limit=limit, shuffle=False):
        xs.append(np.asarray(x, np.float32))
        ys.append(np.asarray(y))
    y = np.concatenate(ys)
    return np.concatenate(xs), (y.argmax(-1) if y.ndim == 2 else y).astype(np.int64)


def shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``(n, H, W, c)`` patches moved by ``dy``, ``dx`` pixels (|dy|, |dx| <= 1), the border filled by reflection."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    h, w = x.shape[1:3]
    return padded[:, 1 - dy:1 - dy + h, 1 - dx:1 - dx + w]


def resized(x: np.ndarray, size: int) -> np.ndarray:
    """``(n, H, W, c)`` patches resized to ``size`` x ``size`` px (bilinear, antialiased)."""
    import tensorflow as tf

    return tf.image.resize(x, (size, size), method="bilinear", antialias=True).numpy()


def dihedral_views(predict, x: np.ndarray) -> list[np.ndarray]:
    """The ``(n, classes)`` probabilities of the 8 flips and rotations of ``x``, identity first."""
    return list(dihedral_predictions(lambda views: predict(views[0]), [x], dense=False))


def combinations(predict, x: np.ndarray, shifts: list[tuple[int, int]], sizes: list[int]) -> dict[str, np.ndarray]:
    """Each way of combining views -> its ``(n, classes)`` scores (the arg-max is the class predicted)."""
    base = dihedral_views(predict, x)
    votes = np.eye(base[0].shape[-1])[np.argmax(base, axis=-1)].sum(axis=0)
    out = {"plain": base[0], "dihedral_mean": np.mean(base, axis=0),
           "dihedral_log_mean": np.mean(np.log(np.clip(base, 1e-12, 1.0)), axis=0),
           "dihedral_vote": votes + 1e-3 * np.mean(base, axis=0)}
    if shifts:
        every = list(base)
        for dy, dx in shifts:
            views = dihedral_views(predict, shifted(x, dy, dx))
            out[f"shift_{dy}_{dx}"] = views[0]
            every += views
        out["dihedral_shift_mean"] = np.mean(every, axis=0)
    for size in sizes:
        views = dihedral_views(predict, resized(x, size))
        out[f"size_{size}"], out[f"dihedral_size_{size}_mean"] = views[0], np.mean(views, axis=0)
    return out


def evaluate(path: Path, x: np.ndarray, y: np.ndarray, shifts: list[tuple[int, int]],
             sizes: list[int]) -> tuple[dict, dict[str, np.ndarray]]:
    """Images right and accuracy of each combination for the ``.keras`` model at ``path``, and the
    ``(n, classes)`` scores of each combination."""
    import tensorflow as tf

    model = rskeras.load_model(path)
    forward = tf.function(lambda t: model(t, training=False), reduce_retracing=True)

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.concatenate([forward(tf.constant(batch[i:i + 200])).numpy() for i in range(0, len(batch), 200)])

    start = time.perf_counter()
    scores = combinations(predict, x, shifts, sizes)
    return {"model": str(path), **counts(scores, y), "seconds": round(time.perf_counter() - start, 1)}, scores


def counts(scores: dict[str, np.ndarray], y: np.ndarray) -> dict:
    """Images right and accuracy of each combination's ``(n, classes)`` scores against the classes ``y``."""
    right = {name: int((s.argmax(-1) == y).sum()) for name, s in scores.items()}
    return {"right": right, "accuracy": {k: v / len(y) for k, v in right.items()}}


def ensemble_counts(names: list[str], scores: list[dict[str, np.ndarray]], y: np.ndarray) -> dict:
    """:func:`counts` of each combination's scores averaged over the models ``names``."""
    mean = {key: np.mean([s[key] for s in scores], axis=0) for key in scores[0]}
    return {"model": "mean of " + ", ".join(names), **counts(mean, y)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", metavar="[NAME=]PATH",
                        help="a EuroSAT RGB .keras model, repeatable (default: the committed one)")
    parser.add_argument("--data", type=Path, default=None, help="the EuroSAT RGB folder (default: shared data)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N validation patches")
    parser.add_argument("--shift", type=int, default=1, choices=(0, 1),
                        help="1: also the four diagonal 1-px shifts (default); 0: none")
    parser.add_argument("--sizes", default="", help="patch sizes to resize to, e.g. 56,72 (default: none)")
    parser.add_argument("--ensemble", action="store_true",
                        help="also each combination averaged over the models given (their ensemble)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "tta_views.json")
    args = parser.parse_args(argv)
    root = args.data or find_data() / "eurosat_rgb"
    shifts = [(dy, dx) for dy in (-1, 1) for dx in (-1, 1)] if args.shift else []
    sizes = [int(s) for s in args.sizes.split(",") if s]
    x, y = validation_split(root, args.limit)
    results, every = {}, []
    for item in args.model or [str(MODEL)]:
        name, _, path = item.rpartition("=")
        result, scores = evaluate(Path(path), x, y, shifts, sizes)
        results[name or Path(path).stem] = result
        every.append(scores)
        print(f"{name or path}: " + ", ".join(f"{k} {v}" for k, v in result["right"].items()) +
              f" of {len(y)} ({result['seconds']:.0f} s)", flush=True)
    if args.ensemble:
        results["ensemble"] = ensemble_counts(list(results), every, y)
        print("ensemble: " + ", ".join(f"{k} {v}" for k, v in results["ensemble"]["right"].items()))
    payload = {"split": "validation", "n_images": int(len(y)), "limit": args.limit, "shifts": shifts,
               "sizes": sizes, "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
               "models": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
