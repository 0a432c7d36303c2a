"""The project's Markdown holds together: internal links resolve, the reason codes it lists exist.

A clone has only what is in it (issue 10 point 4): a link from README.md or docs/ to a file or
heading that is not there, or a documented rejection reason no code produces, misleads an
integrator exactly where they look for the format.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from tests import docs_examples as docs

_LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def _prose(path: Path) -> list[str]:
    """Return the file's lines outside fenced blocks (links in code are not links)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    fenced: set[int] = set()
    for line, _info, body in docs.fenced_blocks(path):
        fenced.update(range(line - 1, line + body.count("\n") + 1))
    return [text for i, text in enumerate(lines) if i not in fenced]


def slug(heading: str) -> str:
    """Return the anchor GitHub gives a heading: lower case, punctuation dropped, - for space."""
    text = re.sub(r"`", "", heading).strip().lower()
    # Markdown links in a heading anchor by their text.
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    kept = "".join(
        c
        for c in text
        if c in " -_" or unicodedata.category(c)[0] in {"L", "N"} or unicodedata.category(c) == "Mn"
    )
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Return every heading anchor of ``path``, with GitHub's -1, -2 for repeated headings."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in _prose(path):
        match = _HEADING.match(line)
        if match is None:
            continue
        base = slug(match[1])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    """Return the targets of the Markdown links in ``path``'s prose."""
    found: list[str] = []
    for line in _prose(path):
        found.extend(_LINK.findall(_INLINE_CODE.sub("", line)))
    return found


def _internal(target: str) -> bool:
    return not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:


def test_slug_follows_github() -> None:
    assert slug("Key units (消防安全重点单位)") == "key-units-消防安全重点单位"
    assert slug("GB/T 26875.3 device (`gb26875`)") == "gbt-268753-device-gb26875"
    assert slug("`firegrid up`") == "firegrid-up"


def test_the_checker_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n[ok](#title) [bad](#nowhere) `[code](#x)`\n```\n[fenced](#y)\n```\n",
        encoding="utf-8",
    )
    assert links(page) == ["#title", "#nowhere"]
    assert anchors(page) == {"title"}


@pytest.mark.parametrize(
    "page",
    docs.markdown_files(),
    ids=[str(p.relative_to(docs.ROOT)) for p in docs.markdown_files()],
)
def test_internal_links_resolve(page: Path) -> None:
    broken: list[str] = []
    for target in filter(_internal, links(page)):
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        if not destination.exists():
            broken.append(f"{target}: no file {destination}")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading with anchor #{anchor} in {destination.name}")
        elif destination.is_relative_to(docs.ROOT.parent) and not destination.is_relative_to(
            docs.ROOT
        ):
            broken.append(f"{target}: outside the project, where a clone does not reach")
    assert not broken, broken


def test_documented_reason_codes_are_produced_by_the_code() -> None:
    page = docs.DOCS / "integrators" / "mqtt.md"
    text = page.read_text(encoding="utf-8")
    table = text.split("### Reason codes", 1)[1].split("\n## ", 1)[0]
    codes = {
        code
        for row in table.splitlines()
        for code in re.findall(r"`([a-z0-9_]+)`", row.split("|")[1] if row.startswith("|") else "")
    }
    assert len(codes) > 30, "the reason-code table was not found"
    sources = "\n".join(
        p.read_text(encoding="utf-8")
        for package in ("devices", "ingest")
        for p in (docs.ROOT / package).rglob("*.py")
    )
    unknown = sorted(c for c in codes if f'"{c}"' not in sources)
    assert not unknown, f"documented reason codes no decoder or ingest step produces: {unknown}"
