"""Street, community and grid codes (一格一码), parsed into their parts (DOMAIN.md §1).

A code is the 6-digit county code (GB/T 2260), then 3 digits for the street or township, then
3 for the community, then the grid's sequence: 3 digits in Beijing's DB11 unit-grid code
(15 in all), 2 in the national GB/T 30428.1 / CJ/T 213 form (14 in all). Both grid lengths are
accepted and the parts stored, so the two can coexist in one city's file.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from msgspec import Struct

from grids.exceptions import GridCodeError


class GridLevel(StrEnum):
    """The three levels of one net (一网三级): big, middle and small grid."""

    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"


CODE_LENGTHS: Final[dict[GridLevel, tuple[int, ...]]] = {
    GridLevel.STREET: (9,),
    GridLevel.COMMUNITY: (12,),
    GridLevel.GRID: (14, 15),
}

PARENT_LEVEL: Final[dict[GridLevel, GridLevel]] = {
    GridLevel.COMMUNITY: GridLevel.STREET,
    GridLevel.GRID: GridLevel.COMMUNITY,
}

# First two digits of a GB/T 2260 county code: the province-level division. A code starting
# with anything else is a typo or a made-up prefix, and would never match a real county.
PROVINCES: Final = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82",
    }
)  # fmt: skip

_LEVEL_BY_LENGTH: Final = {n: level for level, lengths in CODE_LENGTHS.items() for n in lengths}


class GridCode(Struct, frozen=True):
    """A validated code and its parts; ``community`` and ``sequence`` are None above them."""

    code: str
    level: GridLevel
    county: str
    street: str
    community: str | None
    sequence: str | None
    length: int

    @property
    def street_code(self) -> str:
        """Return the 9-digit code of the street this code lies in (itself for a street)."""
        return self.county + self.street

    @property
    def community_code(self) -> str | None:
        """Return the 12-digit community code, or None for a street."""
        return None if self.community is None else self.street_code + self.community

    @property
    def parent(self) -> str:
        """Return the code of the level above: community, street, or the 6-digit county."""
        if self.level is GridLevel.GRID:
            return self.code[:12]
        if self.level is GridLevel.COMMUNITY:
            return self.code[:9]
        return self.county

    @property
    def street_kind(self) -> str:
        """Return what the street digits say: ``subdistrict`` (街道), ``town`` or ``township``."""
        # DOMAIN.md §1: 0xx 街道, 1xx 镇, 2xx-3xx 乡. Statistical codes use 4xx+ for
        # development zones and farms; those are kept, not refused.
        first = self.street[0]
        if first == "0":
            return "subdistrict"
        if first == "1":
            return "town"
        if first in "23":
            return "township"
        return "other"


def parse_level(raw: object) -> GridLevel:
    """Parse a ``level`` property or raise GridCodeError with reason ``level_unknown``."""
    if isinstance(raw, str):
        try:
            return GridLevel(raw)
        except ValueError:
            pass
    names = ", ".join(level.value for level in GridLevel)
    raise GridCodeError(raw, "level_unknown", f"level must be one of {names}")


def level_for_length(length: int) -> GridLevel | None:
    """Return the level a code of ``length`` digits belongs to, or None."""
    return _LEVEL_BY_LENGTH.get(length)


def parse_code(raw: object, level: GridLevel | str | None = None) -> GridCode:
    """Parse and validate a code, optionally checking it has the length ``level`` requires."""
    if not isinstance(raw, str):
        raise GridCodeError(raw, "code_not_string", f"code must be a string, not {_kind(raw)}")
    # isdigit() alone accepts full-width and other Unicode digits; codes are ASCII.
    if not (raw.isascii() and raw.isdigit()):
        raise GridCodeError(raw, "code_not_digits", "code must consist of ASCII digits only")
    wanted = None if level is None else parse_level(level)
    found = level_for_length(len(raw))
    if wanted is not None and found is not wanted:
        allowed = " or ".join(str(n) for n in CODE_LENGTHS[wanted])
        raise GridCodeError(
            raw, "code_length", f"a {wanted.value} code has {allowed} digits, not {len(raw)}"
        )
    if found is None:
        raise GridCodeError(
            raw,
            "code_length",
            f"{len(raw)} digits is no level's length (street 9, community 12, grid 14 or 15)",
        )
    county, street = raw[:6], raw[6:9]
    community = raw[9:12] if found is not GridLevel.STREET else None
    sequence = raw[12:] if found is GridLevel.GRID else None
    if county[:2] not in PROVINCES:
        raise GridCodeError(
            raw, "county_unknown", f"county {county} starts with no GB/T 2260 province code"
        )
    if county[2:] == "0000":
        raise GridCodeError(raw, "county_unknown", f"{county} is a province, not a county")
    for name, part in (("street", street), ("community", community), ("sequence", sequence)):
        # Numbering starts at 1 on every level; an all-zero part is a placeholder, not a place.
        if part is not None and part.count("0") == len(part):
            raise GridCodeError(raw, "code_zero_part", f"{name} part {part} is all zeros")
    return GridCode(
        code=raw,
        level=found,
        county=county,
        street=street,
        community=community,
        sequence=sequence,
        length=len(raw),
    )


def _kind(raw: object) -> str:
    return "null" if raw is None else type(raw).__name__


def in_area(area: str, *, grid: str | None, community: str | None, street: str | None) -> bool:
    """Tell whether a place with these codes lies in ``area`` (a grid, community or street code;
    any other length, such as a 6-digit county, is a prefix of the street code).

    Codes of a level are compared whole, never as prefixes: a 14-digit grid code is a string
    prefix of ten 15-digit grid codes of its community, and the two forms coexist.
    ``hazards.service.area_condition`` is the same test in SQL.
    """
    level = level_for_length(len(area))
    if level is GridLevel.GRID:
        return grid == area
    if level is GridLevel.COMMUNITY:
        return community == area
    if level is GridLevel.STREET:
        return street == area
    return street is not None and street.startswith(area)
