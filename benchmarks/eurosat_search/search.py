"""EuroSAT RGB from scratch: search for a recipe that beats 98.6 % in the 60-minute, 2-core CPU budget.

Each configuration of :data:`CONFIGS` trains a compact ResNet (``models.py``) from scratch on the 18,900
training images and logs, per epoch, the validation accuracy (5,400 images) of the plain weights and,
every ``--full-every`` epochs and at the last, also with test-time augmentation (the mean of the class
probabilities over the eight flips and 90-degree rotations) and with the exponential moving average
of the weights (EMA, tracked by the optimizer: ``use_ema``), alone and with TTA. Every configuration
also carries its CPU cost in units of one epoch of today's recipe (:data:`CPU_COST`, measured with
``cpu_cost.py``), so the runs can be compared at the budget: 26 such epochs fill the 60 minutes today.
Progressive resizing trains one ``fit`` per input size (``stages``); the images are resized on the host
(area), the flips, rotations and crops run inside the model (training only).

On a GPU (the JAX backend; several configurations train at once, one process each; the queue
:data:`SEARCH` by default, ``finalists:N:SEEDS`` in it adds seeds of the best so far):

    KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false python benchmarks/eurosat_search/search.py \\
        --data ../shared/data/eurosat_rgb --out outputs/eurosat_search --parallel 8 --minutes 30

``--packed DIR`` reads the images from the files of ``pack.py`` instead (for a machine the JPEG folder
cannot be copied to: its parts can travel one at a time). On an H200, 8 configurations at once train
26 epochs in 3.5 to 4 minutes each (host-bound: the GPU was 30-70 % busy); 3 at once, in 1 minute.
On a CPU (TensorFlow or JAX; one configuration at a time, e.g. a short check):

    KERAS_BACKEND=tensorflow PYTHONPATH=$PWD .venv/bin/python benchmarks/eurosat_search/search.py \\
        --data ../shared/data/eurosat_rgb --configs prog_crop42 --epochs 3 --limit 2048 --parallel 1

Writes ``OUT/results.jsonl`` (one line per configuration and epoch, appended as training goes, so a run
cut short keeps what it finished), ``OUT/log.txt`` and ``OUT/summary.txt``; ``collect.py`` merges them
into ``benchmarks/results/eurosat_search.json``. The recipe around the model is rskeras' (batch 64, AdamW
with weight decay 0.05 sparing biases and norms, one-cycle: 30 % linear warm-up from peak / 25, then
cosine to 0; label smoothing 0.1; dropout 0.1 before the output), with the options of :data:`DEFAULTS`.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import keras
import numpy as np

DEFAULTS = {
    "arch": "compact",  # a key of models.ARCHITECTURES
    "stages": [[64, 26]],  # [input size, epochs] in training order: progressive resizing when several
    "batch": 64,
    "lr": 2e-3,  # peak of the one-cycle schedule
    "wd": 0.05,
    "label_smoothing": 0.1,
    "dropout": 0.1,
    "drop_path": 0.0,  # stochastic depth at the last block
    "crop_pad": 0,  # random crops of the patch padded by reflection (pixels at 64x64)
    "mixup": 0.0,  # Beta(alpha, alpha) mixing of image pairs and their labels (0: off)
    "cutmix": 0.0,  # probability of a CutMix batch (box area ~ U(0, 1))
    "ema": 0.999,  # EMA momentum of the weights (evaluated beside the plain weights; 0: off)
    "seed": 0,
}

# CPU cost of one training epoch relative to `compact` at 64x64, batch 64, float32. MEASURED: cpu_cost.py,
# TensorFlow 2.21 train steps on this machine's 2 shared cores, each candidate timed between two timings of
# the reference, median over 5 rounds (two runs for compact_s2@64: 0.62 and 0.69); MAC: the ratio of
# multiply-accumulates (models.multiply_accumulates). The CPU does better than the MAC ratio wherever the
# 64x64x32 stem activations go (strided stem, smaller inputs). Both are in the results file.
CPU_COST = {
    ("compact", 64): 1.0, ("compact", 48): 0.45, ("compact", 32): 0.17,
    ("compact_s2", 64): 0.65, ("compact_s2", 48): 0.32, ("compact_s2", 32): 0.11,
    ("compact_1221", 64): 1.22, ("compact_w48_s2", 64): 1.58,
}
CPU_COST_MAC = {
    ("compact", 64): 1.0, ("compact", 48): 0.563, ("compact", 32): 0.25,
    ("compact_s2", 64): 0.945, ("compact_s2", 48): 0.532, ("compact_s2", 32): 0.236,
    ("compact_1221", 64): 1.559, ("compact_w48_s2", 64): 2.029,
}
VALIDATION_COST = 0.06  # a validation pass per epoch, relative to a training epoch at 64x64
BUDGET = 26 * (1 + VALIDATION_COST)  # today's 26 epochs in 60 minutes


def _config(**changes) -> dict:
    return {**DEFAULTS, **changes}


CONFIGS: dict[str, dict] = {
    # today's recipe (rskeras.training.recipes, compact_resnet)
    "base26": _config(),
    # random crops with 4 pixels of reflection padding
    "crop26": _config(crop_pad=4),
    # progressive resizing (sized with the MAC costs)
    "prog_crop42": _config(crop_pad=4, stages=[[32, 16], [48, 12], [64, 14]]),
    "prog_crop46": _config(crop_pad=4, stages=[[32, 30], [64, 16]]),
    "prog_crop56": _config(crop_pad=4, stages=[[32, 40], [48, 8], [64, 8]]),
    # more epochs than the budget holds: what a faster trainer would buy
    "crop40": _config(crop_pad=4, stages=[[64, 40]]),
    "crop60": _config(crop_pad=4, stages=[[64, 60]]),
    # mixing and stochastic depth at today's length
    "crop26_cutmix": _config(crop_pad=4, cutmix=0.5),
    "crop26_mixup": _config(crop_pad=4, mixup=0.2),
    "crop26_droppath": _config(crop_pad=4, drop_path=0.1),
    # other architectures (sized with the MAC costs)
    "s2_crop28": _config(arch="compact_s2", crop_pad=4, stages=[[64, 28]]),
    "b1221_crop16": _config(arch="compact_1221", crop_pad=4, stages=[[64, 16]]),
    "w48s2_crop13": _config(arch="compact_w48_s2", crop_pad=4, stages=[[64, 13]]),
    # sized with the measured costs: the strided stem at 40 epochs, and with progressive resizing
    "s2_crop40": _config(arch="compact_s2", crop_pad=4, stages=[[64, 40]]),
    "prog_crop47": _config(crop_pad=4, stages=[[32, 20], [48, 12], [64, 15]]),
    "s2_prog_crop60": _config(arch="compact_s2", crop_pad=4, stages=[[32, 20], [48, 16], [64, 24]]),
}
# The queue of the first GPU search (benchmarks/results/eurosat_search.json, session 1).
SEARCH_1 = ("base26,base26@1,crop26,prog_crop42,prog_crop46,prog_crop56,crop26_cutmix,crop60,crop40,"
            "finalists:2:1+2,crop26_droppath,crop26_mixup,s2_crop28,b1221_crop16,w48s2_crop13")
# The next: progressive resizing (cut short in session 1 by a slow resize, since fixed), the strided stem,
# the epochs-accuracy curve at 40 and 60 epochs, then further seeds of the two best within the budget.
SEARCH = ("prog_crop47,prog_crop42,s2_crop40,s2_prog_crop60,prog_crop56,crop40,crop60@1,base26@2,"
          "finalists:2:1+2,s2_crop28,crop26_mixup")


def cpu_cost(config: dict, table: dict = CPU_COST) -> float:
    """Training cost in epochs of today's recipe (64x64 compact, batch 64), validation passes included."""
    arch = config["arch"]
    train = sum(epochs * table[(arch, size)] for size, epochs in config["stages"])
    return train + VALIDATION_COST * table[(arch, 64)] * sum(e for _, e in config["stages"])


# ---------------------------------------------------------------------------------------------- data
def load_arrays(args) -> Path:
    """Decode the images once into ``.npy`` files under ``args.cache`` (shared by the worker processes)."""
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    if (cache / "validation_y.npy").exists():
        return cache
    for split in ("train", "validation"):
        if args.packed:
            from benchmarks.eurosat_search.pack import load_split
            x, y = load_split(Path(args.packed), split)
        else:
            import csv
            import io

            from PIL import Image
            with open(Path(args.data) / f"{split}.csv", newline="") as f:
                rows = list(csv.DictReader(f))
            x = np.stack([np.asarray(Image.open(io.BytesIO((Path(args.data) / r["filename"]).read_bytes()))
                                     .convert("RGB")) for r in rows])
            y = np.array([int(r["label"]) for r in rows], np.int32)
        np.save(cache / f"{split}_x.npy", x)
        np.save(cache / f"{split}_y.npy", y)
    return cache


def area_resize(images: np.ndarray, size: int) -> np.ndarray:
    """Box-filter (area) resampling of square ``(n, s, s, c)`` uint8 patches to float32 ``size x size``, like
    ``tf.image.resize(method="area")``: strided sums for a whole factor (3 ms per batch of 64 at 32x32),
    two small matrix products otherwise."""
    s = images.shape[1]
    if s == size:
        return images.astype(np.float32)
    if s % size == 0:
        f = s // size
        total = np.zeros((len(images), size, size, images.shape[-1]), np.uint32)
        for i in range(f):
            for j in range(f):
                total += images[:, i::f, j::f]
        return total.astype(np.float32) / (f * f)
    edges = np.arange(size + 1) * s / size
    weights = (np.clip(np.minimum(edges[1:, None], np.arange(1, s + 1)[None])
                       - np.maximum(edges[:-1, None], np.arange(s)[None]), 0, None) * size / s).astype(np.float32)
    resized = weights @ images.astype(np.float32).transpose(0, 3, 1, 2) @ weights.T
    return np.ascontiguousarray(resized.transpose(0, 2, 3, 1))


def dihedral_views(images: np.ndarray):
    """The eight flips and 90-degree rotations of ``(n, h, w, c)`` patches, the identity first."""
    for k in range(8):
        x = images
        if k & 1:
            x = x[:, :, ::-1]
        if k & 2:
            x = x[:, ::-1]
        if k & 4:
            x = x.transpose(0, 2, 1, 3)
        yield np.ascontiguousarray(x)


# -------------------------------------------------------------------------------------- one config
class Batches(keras.utils.PyDataset):
    """Shuffled batches of one epoch: resized to the epoch's size, mixed (MixUp / CutMix), one-hot targets.
    :meth:`set_epoch` starts an epoch (``workers=1``: nothing is prepared ahead across epochs)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, config: dict, sizes: list[int], n_classes: int = 10):
        super().__init__(workers=1)
        self.images, self.labels, self.config, self.sizes = images, labels, config, sizes
        self.targets = np.eye(n_classes, dtype=np.float32)[labels]
        self.rng = np.random.default_rng(config["seed"])
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.size = self.sizes[min(epoch, len(self.sizes) - 1)]
        self.order = self.rng.permutation(len(self.images))

    def __len__(self) -> int:
        return len(self.images) // self.config["batch"]

    def __getitem__(self, i: int):
        b, c = self.config["batch"], self.config
        index = np.sort(self.order[i * b:(i + 1) * b])
        images, targets = area_resize(self.images[index], self.size), self.targets[index]
        partner = self.rng.permutation(len(index))
        if c["mixup"] > 0:
            lam = self.rng.beta(c["mixup"], c["mixup"])
            images = lam * images + (1 - lam) * images[partner]
            targets = lam * targets + (1 - lam) * targets[partner]
        elif c["cutmix"] > 0 and self.rng.random() < c["cutmix"]:
            s = self.size
            cut = round(s * math.sqrt(self.rng.random()))
            r, q = self.rng.integers(0, s - cut + 1, 2)
            images[:, r:r + cut, q:q + cut] = images[partner, r:r + cut, q:q + cut]
            lam = 1 - cut * cut / (s * s)
            targets = lam * targets + (1 - lam) * targets[partner]
        return images, targets


class Evaluate(keras.callbacks.Callback):
    """Per epoch: validation accuracy; every ``full_every`` epochs and at the last, also with TTA, with the
    EMA weights, and both; one line per epoch appended to ``out/results.jsonl``. Stops at ``deadline``."""

    def __init__(self, name: str, config: dict, batches: Batches, validation: tuple[np.ndarray, np.ndarray],
                 out: Path, deadline: float, full_every: int, device: str):
        super().__init__()
        self.name, self.config, self.batches, self.validation = name, config, batches, validation
        self.out, self.deadline, self.full_every, self.device = out, deadline, full_every, device
        self.start, self.stopped = time.time(), False

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
        self.epoch_start = time.time()

    def accuracies(self, views: list[np.ndarray]) -> tuple[float, float]:
        """Accuracy of the first view and of the mean class probabilities over all views."""
        probabilities = [self.model.predict(v, batch_size=1000, verbose=0) for v in views]
        labels = self.validation[1]
        return (float(np.mean(probabilities[0].argmax(1) == labels)),
                float(np.mean(np.mean(probabilities, 0).argmax(1) == labels)))

    def on_epoch_end(self, epoch, logs=None):
        self.weights = [v.numpy() for v in self.model.trainable_variables]  # before fit's EMA overwrite
        epochs, sizes = len(self.batches.sizes), self.batches.sizes
        row = {"name": self.name, "epoch": epoch + 1, "epochs": epochs, "size": sizes[epoch],
               "train_loss": float((logs or {}).get("loss", float("nan"))),
               "train_seconds": round(time.time() - self.epoch_start, 2)}
        last = epoch + 1 == epochs or time.time() > self.deadline
        full = last or (epoch + 1) % self.full_every == 0
        views = [v.astype(np.float32) for v in (dihedral_views(self.validation[0]) if full else [self.validation[0]])]
        row["val_acc"], tta = self.accuracies(views)
        if full:
            row["val_acc_tta"] = tta
            optimizer = self.model.optimizer
            if optimizer.use_ema:
                variables = self.model.trainable_variables
                saved = [v.numpy() for v in variables]
                optimizer.finalize_variable_values(variables)
                for variable in variables:  # on JAX the variable now shares the EMA's buffer, which the
                    variable.assign(variable.numpy())  # next train step donates: give it its own copy
                row["ema_acc"], row["ema_acc_tta"] = self.accuracies(views)
                for variable, value in zip(variables, saved):
                    variable.assign(value)
        row.update(elapsed=round(time.time() - self.start, 1), seconds=round(time.time() - self.epoch_start, 2),
                   config=self.config, cpu_cost=round(cpu_cost(self.config), 2), device=self.device,
                   parameters=self.model.count_params(), final=last)
        with open(self.out / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"[{self.name}] epoch {epoch + 1}/{epochs} @{sizes[epoch]} loss {row['train_loss']:.4f} "
              f"acc {row['val_acc']:.4f}" + (f" tta {row['val_acc_tta']:.4f}" if full else "")
              + (f" ema {row['ema_acc']:.4f} ema+tta {row['ema_acc_tta']:.4f}" if "ema_acc" in row else "")
              + f" ({row['seconds']:.1f} s)", flush=True)
        if last and epoch + 1 < epochs:
            print(f"[{self.name}] stopped at the deadline", flush=True)
            self.model.stop_training = self.stopped = True


def train_one(name: str, config: dict, cache: Path, out: Path, deadline: float, full_every: int,
              limit: int | None = None, validation_limit: int | None = None) -> keras.Model:
    """Train ``config`` on the arrays in ``cache``, logging to ``out`` (see :class:`Evaluate`)."""
    from benchmarks.eurosat_search.models import ARCHITECTURES, compact_resnet

    keras.utils.set_random_seed(config["seed"])
    device = keras.backend.backend()
    if device == "jax":
        import jax
        device += f": {jax.devices()[0].device_kind}"
    x = np.ascontiguousarray(np.load(cache / "train_x.npy", mmap_mode="r")[:limit])
    y = np.load(cache / "train_y.npy")[:limit]
    validation = (np.load(cache / "validation_x.npy")[:validation_limit],
                  np.load(cache / "validation_y.npy")[:validation_limit])
    mean = x.mean((0, 1, 2), dtype=np.float64).tolist()
    std = x.std((0, 1, 2), dtype=np.float64).tolist()
    model = compact_resnet(mean, std, **ARCHITECTURES[config["arch"]], dropout=config["dropout"],
                           drop_path=config["drop_path"], crop_pad=config["crop_pad"], seed=config["seed"])
    sizes = [size for size, epochs in config["stages"] for _ in range(epochs)]
    total = len(sizes) * (len(x) // config["batch"])
    warmup = int(0.3 * total)  # rskeras' one-cycle
    schedule = keras.optimizers.schedules.CosineDecay(
        config["lr"] / 25, decay_steps=max(1, total - warmup), alpha=0.0, warmup_target=config["lr"],
        warmup_steps=warmup)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=config["wd"], use_ema=config["ema"] > 0,
                                       ema_momentum=config["ema"] or 0.99)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(optimizer, keras.losses.CategoricalCrossentropy(label_smoothing=config["label_smoothing"]))
    batches = Batches(x, y, config, sizes)
    print(f"[{name}] {model.count_params():,} parameters, {len(sizes)} epochs of {len(batches)} steps, "
          f"CPU cost {cpu_cost(config):.1f} (budget {BUDGET:.1f}), {device}, config {json.dumps(config)}", flush=True)
    evaluate = Evaluate(name, config, batches, validation, out, deadline, full_every, device)
    epoch = 0
    for _, epochs in config["stages"]:  # one fit per input size: a dataset's batches keep one shape
        batches.set_epoch(epoch)
        model.fit(batches, initial_epoch=epoch, epochs=epoch + epochs, verbose=0, callbacks=[evaluate])
        epoch += epochs
        if evaluate.stopped or epoch == len(sizes):
            break
        for variable, value in zip(model.trainable_variables, evaluate.weights):
            variable.assign(value)  # fit ends by writing the EMA into the weights: continue from the weights
    return model


# -------------------------------------------------------------------------------------------- launcher
def summarise(out: Path) -> str:
    rows = {}
    if (out / "results.jsonl").exists():
        for line in (out / "results.jsonl").read_text().splitlines():
            row = json.loads(line)
            rows[row["name"]] = row
    lines = [f"{'config':28s} {'epochs':>7s} {'cpu':>6s} {'acc':>7s} {'tta':>7s} {'ema':>7s} {'ema+tta':>7s} {'s':>6s}"]
    for name, r in sorted(rows.items(), key=lambda kv: -kv[1].get("val_acc_tta", kv[1]["val_acc"])):
        cells = " ".join(f"{100 * r[k]:7.2f}" if k in r else f"{'-':>7s}"
                         for k in ("val_acc", "val_acc_tta", "ema_acc", "ema_acc_tta"))
        lines.append(f"{name:28s} {r['epoch']:>3d}/{r['epochs']:<3d} {r['cpu_cost']:6.1f} {cells} {r['elapsed']:6.0f}")
    return "\n".join(lines)


def seconds_per_epoch(out: Path, default: float) -> float:
    """1.2 times the median wall time of the recent epochs in ``out/results.jsonl`` (first epochs, which
    hold the compilation, left out)."""
    path = out / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    seen = [row["seconds"] for row in rows if row["epoch"] > 1][-30:]
    return 1.2 * float(np.median(seen)) if seen else default


def finalists(out: Path, n: int, budget: float = BUDGET) -> list[str]:
    """The ``n`` best finished configurations (TTA accuracy of seed 0) within the budget."""
    best = {}
    for line in (out / "results.jsonl").read_text().splitlines() if (out / "results.jsonl").exists() else []:
        row = json.loads(line)
        if (row["final"] and row["epoch"] == row["epochs"] and row["cpu_cost"] <= budget * 1.02
                and "@" not in row["name"]):
            best[row["name"]] = row.get("val_acc_tta", row["val_acc"])
    return sorted(best, key=best.get, reverse=True)[:n]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="EuroSAT RGB folder (train.csv, validation.csv, class folders)")
    p.add_argument("--packed", help="folder of pack.py's files instead of --data")
    p.add_argument("--cache", default="/tmp/eurosat_search_cache", help="decoded arrays (.npy)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--configs", default=SEARCH, help="comma-separated names of CONFIGS, NAME@SEED for another "
                   "seed, 'finalists:N:SEEDS' for the N best (within the budget) of the runs started before it, "
                   "once they have finished, at seeds SEEDS (e.g. 1+2); default: SEARCH")
    p.add_argument("--parallel", type=int, default=1, help="configurations training at once")
    p.add_argument("--minutes", type=float, default=60, help="stop starting runs that would end after this")
    p.add_argument("--epochs", type=int, default=None, help="shorten every configuration to about N epochs (checks)")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images (check runs)")
    p.add_argument("--validation-limit", type=int, default=None)
    p.add_argument("--full-every", type=int, default=5, help="TTA and EMA evaluation every N epochs and at the end")
    p.add_argument("--seconds-per-epoch", type=float, default=3.0, help="first guess of an epoch's wall time")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.worker:
        config = json.loads(args.worker)
        name = config.pop("name")
        train_one(name, config, Path(args.cache), out, args.deadline, args.full_every, args.limit,
                  args.validation_limit)
        return 0

    start = time.time()
    end = start + 60 * args.minutes
    cache = load_arrays(args)
    print(f"data ready in {time.time() - start:.1f} s: {cache}", flush=True)
    lock = threading.Lock()
    running: set[str] = set()  # names of the runs within the budget still training
    pending = deque(args.configs.split(","))
    started: set[str] = set()

    def expand(entry: str) -> dict:
        name, _, seed = entry.partition("@")
        config = {**CONFIGS[name], "name": entry}
        if seed:
            config["seed"] = int(seed)
        if args.epochs:  # each stage shortened in proportion, at least one epoch
            total = sum(e for _, e in config["stages"])
            config["stages"] = [[size, max(1, round(e * args.epochs / total))] for size, e in config["stages"]]
        return config

    def launch(config: dict) -> None:
        epochs = sum(e for _, e in config["stages"])
        needed = 40 + epochs * seconds_per_epoch(out, args.seconds_per_epoch)  # compilation: ~40 s
        if time.time() + needed > end:
            with lock:
                print(f"skipped {config['name']}: needs ~{needed:.0f} s, {end - time.time():.0f} s left", flush=True)
            return
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(config), "--out", str(out),
                   "--cache", str(cache), "--deadline", str(end - 20), "--full-every", str(args.full_every)]
        command += ["--limit", str(args.limit)] if args.limit else []
        command += ["--validation-limit", str(args.validation_limit)] if args.validation_limit else []
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:  # everything to the log, the progress lines and errors to the screen too
            with lock:
                log.write(line)
                log.flush()
                if line.startswith("[") or "Error" in line or "Traceback" in line:
                    print(line, end="", flush=True)
        if process.wait():
            with lock:
                print(f"{config['name']} failed with exit status {process.returncode}", flush=True)

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                entry = pending.popleft()
                before = set(running)
            if entry.startswith("finalists:"):  # rank the runs started before it, once they are done
                _, n, seeds = entry.split(":")
                while before & running:
                    time.sleep(2)
                names = finalists(out, int(n))
                print(f"finalists: {names}", flush=True)
                with lock:
                    pending.extendleft(reversed([f"{name}@{s}" for name in names for s in seeds.split("+")]))
                continue
            config = expand(entry)
            with lock:
                if entry in started:
                    continue
                started.add(entry)
                if cpu_cost(config) <= BUDGET * 1.02:
                    running.add(entry)
            try:
                launch(config)
            finally:
                with lock:
                    running.discard(entry)

    with open(out / "log.txt", "a") as log:
        threads = [threading.Thread(target=worker) for _ in range(args.parallel)]
        for thread in threads:
            thread.start()
            time.sleep(1)
        for thread in threads:
            thread.join()
    summary = summarise(out)
    (out / "summary.txt").write_text(summary + "\n")
    print(summary)
    print(f"total {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
