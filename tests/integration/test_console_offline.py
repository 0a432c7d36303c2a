"""The console at / loads only FireGrid's own files: no CDN, every module and style served.

Walks index.html's src/href attributes and import map, then every module those load (their
static and dynamic imports), and checks each is same-origin and answers 200.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from fastapi.testclient import TestClient

from api.routes.console_page import CONSOLE_DIR, VENDOR_DIR

_ATTR_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
_ABSOLUTE = re.compile(r"""(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s"'<>)]*""")
_IMPORT_MAP = re.compile(r"""<script type="importmap">(.*?)</script>""", re.S)
# `from './x.js'`, `import './x.js'`, `import('./x.js')`: the relative modules a module loads.
_RELATIVE_IMPORT = re.compile(r"""(?:from|import)\s*\(?\s*["'](\.{1,2}/[^"']+)["']""")


def _resolve(base: str, relative: str) -> str:
    parts = base.rsplit("/", 1)[0].split("/")
    for piece in relative.split("/"):
        if piece == "..":
            parts.pop()
        elif piece != ".":
            parts.append(piece)
    return "/".join(parts)


def test_the_console_page_loads_only_same_origin_files_that_are_served(
    client: TestClient,
) -> None:
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert _ABSOLUTE.findall(html) == []
    imports = json.loads(_IMPORT_MAP.search(html).group(1))["imports"]  # type: ignore[union-attr]
    pending = [*_ATTR_URL.findall(html), *imports.values()]
    assert "/console/app.js" in pending
    seen: set[str] = set()
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
        if url.endswith(".js"):
            pending += [_resolve(url, rel) for rel in _RELATIVE_IMPORT.findall(asset.text)]
    # The walk reached the pages (dynamic imports of the router table) and the libraries.
    assert any(url.startswith("/console/pages/") for url in seen)
    assert "/vendor/leaflet/leaflet-src.esm.js" in seen


def test_no_console_file_names_another_origin() -> None:
    for path in [
        *CONSOLE_DIR.rglob("*.js"),
        *CONSOLE_DIR.rglob("*.html"),
        CONSOLE_DIR / "style.css",
    ]:
        assert _ABSOLUTE.findall(path.read_text()) == [], path


def test_the_console_files_are_revalidated_and_licenses_kept(client: TestClient) -> None:
    assert client.get("/console/app.js").headers["cache-control"] == "no-cache"
    versions = (VENDOR_DIR.parent / "VERSIONS.txt").read_text()
    for package in ("preact", "htm", "leaflet", "uplot"):
        assert package in versions
        assert (VENDOR_DIR / package / "LICENSE.txt").read_text().strip()


def test_an_unknown_console_file_is_a_404(client: TestClient) -> None:
    assert client.get("/console/nothing.js").status_code == 404
    # Only the console's own folder is served there, not the package beside it.
    assert client.get("/console/..%2Froutes%2Fconsole_page.py").status_code == 404


def test_the_page_forbids_scripts_from_anywhere_else(client: TestClient) -> None:
    policy = client.get("/").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    script = directives["script-src"].split()
    assert script[0] == "'self'"
    assert [s for s in script[1:] if not s.startswith("'sha256-")] == []
    assert directives["connect-src"] == "'self'"
    assert directives["object-src"] == "'none'"


def _glob(pattern: str) -> re.Pattern[str]:
    # setuptools' package-data globs: `*` stays within one folder.
    return re.compile("[^/]*".join(re.escape(part) for part in pattern.split("*")) + "$")


def test_every_static_file_is_package_data() -> None:
    # Installed (not editable), FireGrid serves only what pyproject's package-data lists.
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    globs = [_glob(p) for p in pyproject["tool"]["setuptools"]["package-data"]["api"]]
    api_dir = VENDOR_DIR.parent.parent
    missed = []
    for path in VENDOR_DIR.parent.rglob("*"):
        relative = path.relative_to(api_dir).as_posix()
        if path.is_file() and not any(g.match(relative) for g in globs):
            missed.append(relative)
    assert missed == []
    assert not _glob("static/*/*").match("static/console/pages/map.js")  # the check can fail
