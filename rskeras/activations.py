"""The lecture's table of activation functions, as Keras activations.

==================  =====================================  ==========  =========================
name                f(z)                                   range       gradient
==================  =====================================  ==========  =========================
``unit_step``       0 for z<0, 0.5 at z=0, 1 for z>0       {0,.5,1}    zero everywhere (*)
``sign``            -1 for z<0, 0 at z=0, 1 for z>0        {-1,0,1}    zero everywhere (*)
``linear``          z                                      R           1
``piecewise_linear`` 0 below -1/2, z+1/2 between, 1 above  [0, 1]      1 between, 0 outside
``logistic``        1 / (1 + exp(-z))                      (0, 1)      f(1-f)
``tanh``            (e^z - e^-z) / (e^z + e^-z)            (-1, 1)     1 - f^2
``relu``            max(0, z)                              [0, inf)    0 below 0, 1 above
``softplus``        log(1 + exp(z))                        (0, inf)    logistic(z)
==================  =====================================  ==========  =========================

(*) The unit step and the sign are the historical perceptron activations. Their
gradient is zero wherever it exists, so a network that uses them in a hidden
layer does not learn by back-propagation: use them to illustrate, or at the
output of a model trained with another activation.

Every name works as ``keras.layers.Dense(8, activation="piecewise_linear")`` once
``rskeras`` is imported, and survives a ``.keras`` save and load.
"""

from __future__ import annotations

from typing import Callable

import keras
from keras import ops

from rskeras._compat import register_activation_name

_PACKAGE = "rskeras"


@keras.saving.register_keras_serializable(package=_PACKAGE)
def unit_step(x):
    """Heaviside step: 0 for x < 0, 0.5 at x = 0, 1 for x > 0. Zero gradient."""
    half = ops.cast(0.5, x.dtype)
    return ops.where(x > 0, ops.ones_like(x), ops.where(x < 0, ops.zeros_like(x), ops.zeros_like(x) + half))


@keras.saving.register_keras_serializable(package=_PACKAGE)
def sign(x):
    """Sign: -1 for x < 0, 0 at x = 0, 1 for x > 0. Zero gradient."""
    return ops.sign(x)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def piecewise_linear(x):
    """0 below -1/2, x + 1/2 between -1/2 and 1/2, 1 above 1/2."""
    return ops.clip(x + ops.cast(0.5, x.dtype), 0.0, 1.0)


@keras.saving.register_keras_serializable(package=_PACKAGE)
def logistic(x):
    """The logistic sigmoid 1 / (1 + exp(-x)) (Keras' ``sigmoid``)."""
    return ops.sigmoid(x)


#: The table in lecture order: name -> activation function.
ACTIVATIONS: dict[str, Callable] = {
    "unit_step": unit_step,
    "sign": sign,
    "linear": keras.activations.linear,
    "piecewise_linear": piecewise_linear,
    "logistic": logistic,
    "tanh": keras.activations.tanh,
    "relu": keras.activations.relu,
    "softplus": keras.activations.softplus,
}

#: Activations whose gradient is zero wherever it is defined.
ZERO_GRADIENT = frozenset({"unit_step", "sign"})


def get(name: str | Callable) -> Callable:
    """The activation for a name of the table (or any Keras activation name)."""
    if callable(name):
        return name
    if name in ACTIVATIONS:
        return ACTIVATIONS[name]
    try:
        return keras.activations.get(name)
    except ValueError:
        raise ValueError(
            f"unknown activation {name!r}; rskeras has {', '.join(ACTIVATIONS)}"
        ) from None


def _register_names() -> None:
    """Make the rskeras names resolvable by ``keras.activations.get(name)``.

    Keras resolves activation strings from its own table only; adding ours there
    is what lets ``Dense(..., activation="unit_step")`` work in any layer.
    """
    for fn_name in ("unit_step", "sign", "piecewise_linear", "logistic"):
        register_activation_name(fn_name, ACTIVATIONS[fn_name])


_register_names()
