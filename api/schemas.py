"""Request bodies the routes read themselves (CSV, GeoJSON), described for the OpenAPI document.

Imports read the raw body (a city's file is parsed in a worker thread, row errors are answered
per row), so FastAPI cannot infer their schema from a parameter; these give it.
"""

from __future__ import annotations

from typing import Any

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


def registry_body(model: type[BaseModel]) -> dict[str, Any]:
    """Describe a registry import body: CSV with a header, or a JSON array of rows."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "description": f"CSV, a header row naming fields of {model.__name__}",
                    }
                },
                "application/json": {"schema": _rows_schema(model)},
            },
        }
    }


DEVICES_BODY = registry_body(DeviceRow)
UNITS_BODY = registry_body(UnitRow)
STAFF_BODY = registry_body(StaffRow)

GRIDS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
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
                                        "type": "object",
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
            }
        },
    }
}
