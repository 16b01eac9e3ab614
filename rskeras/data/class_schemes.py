"""Class legends of land-cover products declared as data (pure Python, no TensorFlow).

A :class:`ClassScheme` is to a class raster what :class:`~rskeras.data.SensorSpec`
is to an image: the values its pixels hold, their names and their official
colours. It reads like a ``{code: name}`` mapping, so ``WORLDCOVER_CLASSES[80]``
is ``"Permanent water bodies"`` and ``list(WORLDCOVER_CLASSES)`` the codes in order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ClassScheme(Mapping[int, str]):
    """The classes of a categorical raster product.

    Attributes:
        name: short name, e.g. ``"esa_worldcover"``.
        codes: the pixel values of the classes, in the product's order.
        names: one name per code.
        colors: one ``"#rrggbb"`` colour per code, as the product's documentation gives them.
        nodata: the value of pixels without a class, or None.
        source: the product and the document the legend comes from.
    """

    name: str
    codes: tuple[int, ...]
    names: tuple[str, ...]
    colors: tuple[str, ...]
    nodata: int | None
    source: str

    def __post_init__(self) -> None:
        if not len(self.codes) == len(self.names) == len(self.colors):
            raise ValueError(
                f"class scheme {self.name!r}: {len(self.codes)} codes, {len(self.names)} names and "
                f"{len(self.colors)} colours must match one to one"
            )
        if len(set(self.codes)) != len(self.codes):
            raise ValueError(f"class scheme {self.name!r} repeats a code: {self.codes}")

    def _position(self, code: int) -> int:
        try:
            return self.codes.index(code)
        except ValueError:
            codes = ", ".join(map(str, self.codes))
            raise KeyError(f"{self.name} has no class {code!r}; its codes are {codes}") from None

    def __getitem__(self, code: int) -> str:
        return self.names[self._position(code)]

    def __iter__(self) -> Iterator[int]:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    def rgba(self, code: int) -> tuple[int, int, int, int]:
        """The colour of class ``code`` as ``(r, g, b, 255)``, the form of a GDAL colour map entry."""
        hex_color = self.colors[self._position(code)].lstrip("#")
        return int(hex_color[0:2], 16), int(hex_color[2:4], 16), int(hex_color[4:6], 16), 255

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        """``{code: (r, g, b, 255)}`` for every class, ready for ``rasterio``'s ``write_colormap``."""
        return {code: self.rgba(code) for code in self.codes}


WORLDCOVER_CLASSES = ClassScheme(
    name="esa_worldcover",
    codes=(10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100),
    names=(
        "Tree cover", "Shrubland", "Grassland", "Cropland", "Built-up", "Bare / sparse vegetation",
        "Snow and ice", "Permanent water bodies", "Herbaceous wetland", "Mangroves", "Moss and lichen",
    ),
    colors=(
        "#006400", "#ffbb22", "#ffff4c", "#f096ff", "#fa0000", "#b4b4b4",
        "#f0f0f0", "#0064c8", "#0096a0", "#00cf75", "#fae6a0",
    ),
    nodata=0,
    source="ESA WorldCover 10 m v100 (2020) / v200 (2021), Zanaga et al.; product user manual legend and "
    "colours (Earth Engine ESA/WorldCover/v200, band Map)",
)  # fmt: skip
