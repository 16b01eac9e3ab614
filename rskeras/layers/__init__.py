"""Keras layers of rskeras, serialisable by name (``rskeras>ClassName``)."""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.layers.batch_normalization": ["FusedBatchNormalization"],
        "rskeras.layers.input_contract": ["BandRanges", "InputContract", "InputRangeWarning", "check_inputs"],
        "rskeras.layers.normalization": ["BandNormalization", "band_statistics"],
        "rskeras.layers.resize": ["BilinearUpsampling2D"],
    },
)
