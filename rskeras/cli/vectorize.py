"""``rskeras vectorize``: a class map's polygons per class (GeoPackage or GeoJSON) and its per-class area table."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "vectorize",
        help="turn a class map into polygons per class with class name and area (and a per-class area table)",
        description="Write the polygons of MAP's classes to OUT (.gpkg or .geojson), in the map's CRS, with the "
        "class value, its name (the map's CLASS_NAMES tag, as `rskeras predict` writes it), pixels, area_m2 and "
        "area_ha; nodata is never a polygon. --areas also writes the per-class table (pixels, m², ha, share) as "
        ".json or .csv. Areas need a projected CRS. Files appear only when complete.",
    )
    p.add_argument("map", help="the class map (GeoTIFF, band 1 integer classes)")
    p.add_argument("out", help="the polygons to write: .gpkg or .geojson")
    p.add_argument("--simplify", type=float, metavar="METRES",
                   help="simplify boundaries by this tolerance in CRS units (neighbours keep sharing them)")
    p.add_argument("--min-area", type=float, metavar="M2", help="leave out polygons smaller than this many m²")
    p.add_argument("--min-pixels", type=int, metavar="N", help="leave out polygons of fewer pixels")
    p.add_argument("--connectivity", type=int, choices=[4, 8], default=4,
                   help="pixels touching by edges (4, default) or also by corners (8) form one polygon")
    p.add_argument("--nodata", type=float, help="a class value that is not mapped, besides the map's nodata")
    p.add_argument("--areas", metavar="TABLE", help="also write the per-class area table: .json or .csv")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rskeras.inference.vectors import TABLE_SUFFIXES, VECTOR_FORMATS, class_areas, vectorize
    from rskeras.io import check_outputs

    outputs = [(args.out, tuple(VECTOR_FORMATS), "OUT")]
    if args.areas:
        outputs.append((args.areas, TABLE_SUFFIXES, "--areas"))
    check_outputs(outputs, inputs=[args.map])
    result = vectorize(args.map, args.out, simplify=args.simplify, min_area=args.min_area,
                       min_pixels=args.min_pixels, connectivity=args.connectivity, nodata=args.nodata)
    per_class = ", ".join(f"{name}: {n:,}" for name, n in result.per_class.items())
    left_out = f"; {result.left_out:,} below the minimum area left out" if result.left_out else ""
    print(f"{result.polygons:,} polygons ({per_class}){left_out}; wrote {result.path}")
    if args.areas:
        rows = class_areas(args.map, args.areas, nodata=args.nodata)
        for row in rows:
            print(f"  {row['name']:>20}: {row['pixels']:>12,} px {row['area_ha']:>14,.2f} ha {row['share']:>7.2%}")
        print(f"wrote {args.areas}")
    return 0
