"""tf.distribute: MirroredStrategy over two logical CPU devices, MultiWorkerMirroredStrategy over loopback."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from rskeras.training import get_strategy, shard_options

WORKER = Path(__file__).with_name("distributed_worker.py")


def _env(**extra):
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", **extra)



def test_mirrored_over_two_logical_cpus_matches_one_device(tmp_path):
    out = tmp_path / "mirrored.npz"
    proc = subprocess.run([sys.executable, str(WORKER), "mirrored", str(out)], capture_output=True, text=True,
                          timeout=150, env=_env(), check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as f:
        assert int(f["replicas"]) == 2
        mirrored = [f[f"arr_{i}"] for i in range(4)]
        single = [f[f"single_{i}"] for i in range(4)]
    # two replicas, each with half of every global batch, average to the single-device gradient
    for a, b in zip(mirrored, single):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_mirrored_over_loopback(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    run_dir = tmp_path / "run"
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(subprocess.Popen(
            [sys.executable, str(WORKER), "multi_worker", str(tmp_path / f"w{index}.npz"), str(run_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(TF_CONFIG=json.dumps(tf_config)),
        ))
    try:
        results = [p.communicate(timeout=150) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err[-3000:]
    weights = []
    for index in range(2):
        with np.load(tmp_path / f"w{index}.npz") as f:
            assert int(f["replicas"]) == 2
            weights.append([f[f"arr_{i}"] for i in range(4)])
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(weights[0][0], 0)
    # the chief (worker 0) fills the run folder; the other worker writes beside it, in workers/1/
    assert (run_dir / "log.csv").exists() and (run_dir / "checkpoints" / "state.json").exists()
    assert (run_dir / "workers" / "1" / "checkpoints" / "state.json").exists()
    assert len((run_dir / "log.csv").read_text().splitlines()) == 3


def test_strategy_names_and_errors(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)
    monkeypatch.delenv("TPU_NAME", raising=False)
    assert get_strategy("auto") is tf.distribute.get_strategy()
    assert get_strategy("default").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="unknown strategy 'horovod'; choose one of auto, default, mirrored"):
        get_strategy("horovod")
    with pytest.raises(ValueError, match="strategy 'multi_worker' needs TF_CONFIG"):
        get_strategy("multi_worker")


def test_shard_options_sets_data_policy():
    ds = shard_options(tf.data.Dataset.range(4))
    assert ds.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA
