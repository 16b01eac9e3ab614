"""Model builders (Keras functional API), one module or folder per model family.

Every builder returns an uncompiled ``keras.Model`` whose last layer is a
:class:`rskeras.heads.TaskOutput` for the ``task=`` it was given.
"""

from rskeras.models.metadata import ModelMetadata, model_metadata

__all__ = ["ModelMetadata", "model_metadata"]
