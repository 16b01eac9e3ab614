"""Window iteration over a raster (no TensorFlow here).

:func:`block_windows` cuts a scene into square blocks, row by row, for pixel and
patch models. The sliding-tile layout and blending weights of dense models live
in :mod:`rskeras.inference.tiling`.
"""

from __future__ import annotations

from rasterio.windows import Window


def block_windows(height: int, width: int, size: int) -> list[Window]:
    """Non-overlapping ``size x size`` windows covering a ``height x width`` scene.

    Windows are ordered row by row; the last row and column of windows are cut to
    the scene's edge. Their origins are multiples of ``size``, so with ``size`` a
    multiple of the output's internal tile size every write fills whole tiles.
    """
    if size < 1:
        raise ValueError(f"window_size must be a positive number of pixels, got {size}")
    return [
        Window(col, row, min(size, width - col), min(size, height - row))
        for row in range(0, height, size)
        for col in range(0, width, size)
    ]
