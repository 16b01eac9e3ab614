"""One process of the distribution tests in tests/training/test_distribute.py.

    python distributed_worker.py mirrored OUT.npz          # two logical CPU devices, then the default strategy
    python distributed_worker.py multi_worker OUT.npz      # one worker of TF_CONFIG's cluster

Both train the same tiny network on the same data for a few steps and save the final weights.
"""

import sys

import numpy as np
import tensorflow as tf

import rskeras  # noqa: F401

GLOBAL_BATCH, STEPS = 16, 4


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(GLOBAL_BATCH * STEPS, 5)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    return x, y


def train(strategy, run_dir=None):
    import keras

    from rskeras.models.ann import ann
    from rskeras.training import RunFolder, compile_for_task, fit, shard_options
    from rskeras.training.distribute import is_chief, worker_index

    keras.utils.set_random_seed(0)
    x, y = data()
    dataset = shard_options(tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH))
    with strategy.scope():
        model = ann(5, task="multiclass", n_outputs=2, hidden=(8,))
        compile_for_task(model, "multiclass", optimizer=keras.optimizers.SGD(0.1))
    if run_dir is None:
        model.fit(dataset, epochs=2, verbose=0)
    else:
        run = RunFolder(run_dir, chief=is_chief(strategy), worker=worker_index(strategy))
        fit(model, dataset, None, run, 2, verbose=0, tensorboard=False)
    return model.get_weights()


def main():
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from rskeras.training import get_strategy

        assert get_strategy("auto").num_replicas_in_sync == 1  # "auto" mirrors over GPUs, not CPU devices
        mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        replicas = mirrored.num_replicas_in_sync
        weights = train(mirrored)
        single = train(get_strategy("default"))
        np.savez(out, *weights, replicas=replicas, **{f"single_{i}": w for i, w in enumerate(single)})
    else:
        from rskeras.training import get_strategy

        strategy = get_strategy("auto")
        assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), type(strategy)
        weights = train(strategy, run_dir=sys.argv[3])
        np.savez(out, *weights, replicas=strategy.num_replicas_in_sync)


if __name__ == "__main__":
    main()
