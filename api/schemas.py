"""Request bodies the routes read themselves (CSV, GeoJSON), described for the OpenAPI document.

Imports read the raw body (a city's file is parsed in a worker thread, row errors are answered
per row), so FastAPI cannot infer their schema from a parameter; these give it.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Final

from pydantic import BaseModel

from devices.registry import DeviceRow, StaffRow, UnitRow


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    # A body schema given through openapi_extra cannot carry pydantic's "$defs": inline them.
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def _rows_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {"type": "array", "items": _inline(schema, schema.get("$defs", {}))}


# Tested: tests/integration/test_import_examples.py imports each one.
UNITS_CSV: Final = (
    "unit_id,name,level,address,lat,lon,crs,responsible\n"
    "U-0012,金桥国际商业广场,1,浦东新区新金桥路58号,31.24806,121.58741,gcj02,张三\n"
)
DEVICES_CSV: Final = (
    "device_id,kind,model,unit_id,lat,lon,crs,installed_on,manufactured_on,hydrant_class,"
    "agent,heartbeat_s\n"
    "SHMK19060013,hydrant,MK-P1,U-0012,31.24810,121.58750,gcj02,2025-03-01,,municipal,,3600\n"
    "EXT-0012-01,extinguisher,MFZ/ABC4,U-0012,,,,2025-03-01,2024-11-20,,dry_powder,\n"
)
STAFF_CSV: Final = (
    "staff_id,name,role,area,terminal_id,phone\n"
    "W-0007,李四,grid_worker,310115005003007,T-0007,139 1234 5678\n"
)
_CSV_EXAMPLES: Final = {DeviceRow: DEVICES_CSV, UnitRow: UNITS_CSV, StaffRow: STAFF_CSV}

_CSV_RULES: Final = (
    "UTF-8 (with or without a BOM) or GB 18030/GBK, as Excel saves it on a Chinese Windows"
    ' machine; the encoding found is answered in `encoding`. Empty cells mean "not given";'
    " a row whose ID exists updates it. Errors give `line`, the file line the row starts on"
    " (the header is line 1). `?dry_run=true` validates and counts without writing."
)


def _csv_columns(model: type[BaseModel]) -> str:
    fields = model.model_fields
    names = [f"`{n}` (required)" if f.is_required() else f"`{n}`" for n, f in fields.items()]
    names = [n for n in names if n != "`thresholds`"]
    if "lat" in fields:
        names.append("`crs` (wgs84, gcj02 or bd09; default wgs84)")
    if "thresholds" in fields:
        names.append("`threshold.<name>` (a rule threshold override)")
    return ", ".join(names)


def _csv_to_json(text: str) -> list[dict[str, Any]]:
    """Return the CSV example as the JSON array form of the same rows (numbers as numbers)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    return [{k: _number(v) for k, v in row.items() if v} for row in rows]


def _number(cell: str) -> Any:
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            continue
    return cell


def registry_body(model: type[BaseModel]) -> dict[str, Any]:
    """Describe a registry import body: CSV with a header, or a JSON array of rows."""
    example = _CSV_EXAMPLES[model]
    return {
        "requestBody": {
            "required": True,
            "description": f"Columns: {_csv_columns(model)}. {_CSV_RULES}",
            "content": {
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "description": "CSV, a header row naming columns, then one row per line",
                    },
                    "example": example,
                },
                "application/json": {
                    "schema": _rows_schema(model),
                    "example": _csv_to_json(example),
                },
            },
        }
    }


DEVICES_BODY = registry_body(DeviceRow)
UNITS_BODY = registry_body(UnitRow)
STAFF_BODY = registry_body(StaffRow)

GRIDS_EXAMPLE: Final[dict[str, Any]] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": None,
            "properties": {
                "code": "310115005",
                "level": "street",
                "name": "金桥镇",
                "parent": "310115",
            },
        },
        {
            "type": "Feature",
            "geometry": None,
            "properties": {
                "code": "310115005003",
                "level": "community",
                "name": "金桥三村",
                "parent": "310115005",
            },
        },
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [121.5860, 31.2470],
                        [121.5890, 31.2470],
                        [121.5890, 31.2490],
                        [121.5860, 31.2490],
                        [121.5860, 31.2470],
                    ]
                ],
            },
            "properties": {
                "code": "310115005003007",
                "level": "grid",
                "name": "金桥三村第7网格",
                "parent": "310115005003",
            },
        },
    ],
}

_GRID_FILE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "description": "A GeoJSON FeatureCollection of streets, communities and grids"
    " (CONTRACT §2), WGS-84 unless a feature's properties.crs says gcj02 or bd09",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "geometry", "properties"],
                "properties": {
                    "type": {"type": "string", "enum": ["Feature"]},
                    "geometry": {
                        "type": ["object", "null"],
                        "description": "null for a street or community drawn by its grids",
                        "required": ["type", "coordinates"],
                        "properties": {
                            "type": {
                                "type": "string",
                                "enum": ["Polygon", "MultiPolygon"],
                            },
                            "coordinates": {
                                "type": "array",
                                "description": "rings of [lon, lat] positions",
                            },
                        },
                    },
                    "properties": {
                        "type": "object",
                        "required": ["code", "level"],
                        "properties": {
                            "code": {"type": "string"},
                            "level": {
                                "type": "string",
                                "enum": ["street", "community", "grid"],
                            },
                            "name": {"type": "string"},
                            "parent": {"type": "string"},
                            "crs": {
                                "type": ["string", "null"],
                                "enum": ["wgs84", "gcj02", "bd09", None],
                            },
                        },
                    },
                },
            },
        },
    },
}

GRIDS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Merged by code into a new version: the areas it names are added or"
        " replace those with their code, every other area is kept; `?replace=true` makes it the"
        " whole set. A parent (street, community) may be in the file or the current version."
        " Streets and communities may have a null geometry; every grid needs a polygon.",
        "content": {
            media: {"schema": _GRID_FILE_SCHEMA, "example": GRIDS_EXAMPLE}
            for media in ("application/geo+json", "application/json")
        },
    }
}
