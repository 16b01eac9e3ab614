"""rskeras: deep learning on satellite imagery with Keras and TensorFlow.

Importing rskeras first sets TensorFlow's environment defaults (oneDNN on, quiet
C++ logs; see :mod:`rskeras._env`) and makes a program whose ``tf.data`` pipeline fails
end instead of hanging (:func:`rskeras.io.release_pipelines_at_exit`). Public names and sub-packages are imported on
first use (:mod:`rskeras._lazy`), so ``import rskeras`` stays cheap and pure-geo
helpers never load TensorFlow.
"""

from __future__ import annotations

from rskeras._env import configure_tensorflow_env
from rskeras.io import release_pipelines_at_exit

configure_tensorflow_env()
release_pipelines_at_exit()  # a failing tf.data pipeline ends the process instead of hanging it

from rskeras._lazy import lazy_exports  # noqa: E402  (after the environment defaults)

__version__ = "0.2.0"

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.inference.predict": ["predict_raster"],
        "rskeras.serving.export": ["export_saved_model"],
        "rskeras.serving.formats": ["export"],
        "rskeras.saving": ["load_model"],
        "rskeras.models.metadata": ["model_metadata"],
        "rskeras.tasks": ["TASKS", "get_task"],
    },
    submodules=["activations", "beam", "data", "ee_export", "evaluation", "heads", "inference", "io", "layers", "losses",
                "models", "serving", "tasks", "training", "workflows"],
)
