"""What a model's layers say about the tiles it can take, read from its Keras config (nothing runs).

:func:`probe_model` walks the functional graph of ``model.get_config()`` once, in
layer order, and follows every tensor's *stride* (input pixels per pixel of the
tensor; a fraction below 1 after an upsampling) and *receptive radius* (input
pixels on each side of a pixel that can change it):

======================================  ======================  ======================================
layer                                   stride                  radius
======================================  ======================  ======================================
convolution or pooling (kernel k,       ``s_in * t``            ``r_in + (k - 1) / 2 * d * s_in``
stride t, dilation d)
transposed convolution, UpSampling2D,   ``s_in / t``            ``r_in + (k - 1) / 2 * s_out``
BilinearUpsampling2D (factor t)
global pooling, Flatten, Resizing,      not spatial             the whole input
adaptive pooling
nested model                            walked the same way
anything else (concatenation, addition, the largest of its inputs (element-wise or 1 x 1 work)
normalisation, activations, padding)
======================================  ======================  ======================================

**Size multiple.** A layer that downsamples by ``t`` a tensor of stride ``s``
needs that tensor's size to be a multiple of ``t``, i.e. a tile size that is a
multiple of ``s * t``; otherwise pooling floors a size and the upsampled decoder
no longer lines up with its skip connection (the ``ConcatOp`` error of a U-Net on
a 30 px tile). :attr:`ModelProbe.multiple` is the least common multiple of these
(``2**depth`` for a U-Net, 32 for a ResNet encoder, 1 without downsampling).

**Activation memory.** A tensor of ``C`` channels and stride ``s`` holds
``C * ceil(T / s)**2`` values per ``T x T`` tile (``C`` for a non-spatial
tensor). It lives from the layer that makes it to its last consumer. The peak is
the largest sum of tensors alive at once when layers run in order, counted as
float32 (mixed precision only halves it), times :data:`WORKSPACE_FACTOR` for
what the kernels allocate on top (convolution buffers, parallel branches).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the probe reads a model's config; a probe restored from JSON needs no Keras
    import keras

#: Peak memory / live activations, measured on CPU (peak RSS of one call, TensorFlow 2.21 with oneDNN): 1.34 for
#: a U-Net of depth 2 (1024 px tile), 1.44 depth 4 (512 px, batch 2), 1.45 depth 3 (512 px, batch 4), 1.48 for
#: M3Net (512 px, batch 2), 1.20 for a ResNet-50 U-Net (256 px, batch 4). The estimate uses 2 to stay on the safe
#: side; not measured on a GPU.
WORKSPACE_FACTOR = 2.0
BYTES_PER_VALUE = 4  # float32
_UPSAMPLING = {"UpSampling2D": "size", "BilinearUpsampling2D": "factor"}
_GLOBAL = ("Global", "Flatten", "Resizing", "Adaptive", "PyramidPooling")


@dataclass
class _Tensor:
    """One tensor of the graph: channels, stride, receptive radius and its life in layer steps."""

    channels: int
    stride: Fraction
    radius: float
    spatial: bool
    born: int
    last: int = -1

    def values(self, tile: int) -> int:
        """Values per item for a ``tile x tile`` input."""
        if not self.spatial:
            return self.channels
        side = math.ceil(tile * self.stride.denominator / self.stride.numerator)
        return self.channels * side * side


@dataclass
class ModelProbe:
    """Tile constraints and activation memory of a model.

    Attributes:
        multiple: tile sizes must be multiples of this (see the module's docstring).
        receptive_radius: input pixels on each side of an output pixel that can change
            it (``inf`` for models with global context).
        tensors: every tensor of the graph with its life in layer steps.
    """

    multiple: int = 1
    receptive_radius: float = 0.0
    tensors: list[_Tensor] = field(default_factory=list, repr=False)
    _step: int = field(default=0, repr=False)  # layers walked so far

    def activation_bytes(self, tile: int, batch: int) -> int:
        """Estimated peak bytes of activations for ``batch`` tiles of ``tile x tile`` pixels
        (``tile`` is ignored by pixel models), including :data:`WORKSPACE_FACTOR`."""
        events: dict[int, int] = {}
        for tensor in self.tensors:
            size = tensor.values(tile)
            events[tensor.born] = events.get(tensor.born, 0) + size
            end = max(tensor.last, tensor.born) + 1
            events[end] = events.get(end, 0) - size
        alive = peak = 0
        for step in sorted(events):
            alive += events[step]
            peak = max(peak, alive)
        return int(WORKSPACE_FACTOR * peak * batch * BYTES_PER_VALUE)

    def to_json(self) -> dict:
        """The probe as JSON (an exported file's metadata carries it, so planning needs no Keras):
        ``multiple``, ``receptive_radius`` (None for infinite) and per tensor ``[channels, stride numerator,
        stride denominator, radius, spatial, born, last]``."""
        return {
            "multiple": self.multiple,
            "receptive_radius": None if math.isinf(self.receptive_radius) else self.receptive_radius,
            "tensors": [[t.channels, t.stride.numerator, t.stride.denominator, None if math.isinf(t.radius)
                         else t.radius, t.spatial, t.born, t.last] for t in self.tensors],
        }

    @classmethod
    def from_json(cls, data: dict) -> "ModelProbe":
        """The probe :meth:`to_json` wrote."""
        radius = data["receptive_radius"]
        tensors = [_Tensor(c, Fraction(num, den), math.inf if r is None else r, bool(spatial), born, last)
                   for c, num, den, r, spatial, born, last in data["tensors"]]
        return cls(int(data["multiple"]), math.inf if radius is None else float(radius), tensors)


def probe_model(model: keras.Model) -> ModelProbe:
    """Walk ``model``'s graph (see the module's docstring); nothing is computed on data."""
    probe = ModelProbe()
    outputs = _walk(model.get_config(), [], probe)
    spatial = [t.radius for t in outputs if t.spatial]
    probe.receptive_radius = max(spatial) if spatial else math.inf
    for tensor in outputs:
        tensor.last = probe._step + 1  # outputs are copied out after the last layer
    return probe


def _walk(config: dict, inputs: list[_Tensor], probe: ModelProbe) -> list[_Tensor]:
    """The output tensors of a functional (or sequential) config fed with ``inputs``."""
    layers = config["layers"]
    if layers and "inbound_nodes" not in layers[0]:  # Sequential: a chain
        tensors = inputs
        for layer in layers:
            tensors = _apply(layer, tensors, probe)
        return tensors
    produced: dict[tuple[str, int, int], _Tensor] = {}
    for ref, tensor in zip(_layer_refs(config["input_layers"]), inputs):
        produced[ref] = tensor
    for layer in layers:
        if layer["class_name"] == "InputLayer" and (layer["name"], 0, 0) in produced:
            continue
        nodes = layer.get("inbound_nodes") or [{}]
        for index, node in enumerate(nodes):
            ins = [produced[ref] for ref in _tensor_refs(node) if ref in produced]
            for tensor in ins:
                tensor.last = max(tensor.last, probe._step + 1)  # the step _apply gives this layer
            for i, out in enumerate(_apply(layer, ins, probe)):
                produced[(layer["name"], index, i)] = out
    return [produced[ref] for ref in _layer_refs(config["output_layers"]) if ref in produced]


def _layer_refs(spec) -> list[tuple[str, int, int]]:
    """``input_layers`` / ``output_layers`` of a config: one ``[name, node, tensor]`` triple, a list
    of them, or a dict of them."""
    if isinstance(spec, dict):
        return [ref for value in spec.values() for ref in _layer_refs(value)]
    if len(spec) == 3 and isinstance(spec[0], str):
        return [(spec[0], int(spec[1]), int(spec[2]))]
    return [ref for value in spec for ref in _layer_refs(value)]


def _tensor_refs(node) -> Iterator[tuple[str, int, int]]:
    """The ``(layer name, node, tensor)`` of every Keras tensor in an inbound node's arguments."""
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__":
            name, index, tensor = node["config"]["keras_history"]
            yield name, int(index), int(tensor)
            return
        for value in node.values():
            yield from _tensor_refs(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _tensor_refs(value)


def _first(value) -> int:
    return int(value[0] if isinstance(value, (list, tuple)) else value)


def _apply(layer: dict, ins: list[_Tensor], probe: ModelProbe) -> list[_Tensor]:
    """The tensors ``layer`` makes from ``ins`` (see the module's table); records them in ``probe``."""
    kind, config = layer["class_name"], layer["config"]
    probe._step += 1
    if "layers" in config:  # a nested model
        return _walk(config, ins, probe)
    if kind == "InputLayer":
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        out = _Tensor(int(shape[-1] or 1), Fraction(1), 0.0, len(shape) == 4, probe._step)
    else:
        out = _transform(kind, config, ins, probe)
    probe.tensors.append(out)
    return [out]


def _transform(kind: str, config: dict, ins: list[_Tensor], probe: ModelProbe) -> _Tensor:
    """The output of a layer that is neither an input nor a nested model."""
    stride = max((t.stride for t in ins), default=Fraction(1))
    radius = max((t.radius for t in ins), default=0.0)
    spatial = bool(ins) and all(t.spatial for t in ins)
    channels = _channels(kind, config, ins)
    if spatial and kind.startswith(_GLOBAL):
        return _Tensor(channels, stride, math.inf, False, probe._step)
    kernel = _first(config.get("kernel_size", config.get("pool_size", 1)) or 1)
    if spatial and kind in _UPSAMPLING:
        stride /= _first(config[_UPSAMPLING[kind]])
    elif spatial and "Transpose" in kind:
        stride /= _first(config.get("strides", 1))
        radius += (kernel - 1) / 2 * stride
    elif spatial and ("strides" in config or "pool_size" in config):
        step = _first(config.get("strides") or config.get("pool_size") or 1)
        radius += (kernel - 1) / 2 * _first(config.get("dilation_rate", 1)) * stride
        if step > 1:
            needed = stride * step
            probe.multiple = math.lcm(probe.multiple, needed.numerator)
        stride *= step
    return _Tensor(channels, stride, radius, spatial, probe._step)


def _channels(kind: str, config: dict, ins: list[_Tensor]) -> int:
    """Output channels: filters or units where the layer sets them, the sum for a concatenation,
    else the largest input's."""
    if config.get("filters"):
        return int(config["filters"])
    if config.get("units"):
        return int(config["units"])
    if kind == "DepthwiseConv2D":
        return ins[0].channels * int(config.get("depth_multiplier", 1))
    if kind == "Concatenate":
        return sum(t.channels for t in ins)
    return max((t.channels for t in ins), default=1)
