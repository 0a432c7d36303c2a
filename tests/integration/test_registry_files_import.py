"""Registry files as cities keep them, through the API and the CLI alike (issue 10, point 3).

A GB 18030 CSV saved the way Excel on a Chinese Windows machine saves it, a UTF-8 file with a
BOM, errors located by file line and counted the same way by both, a device naming an unknown
unit refused, and a dry run that writes nothing.
"""

from __future__ import annotations

import codecs
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from firegrid.cli import main


def _excel_csv(rows: list[str]) -> bytes:
    """Return rows as Excel's "CSV" on a Chinese Windows machine saves them: GB 18030, CR LF."""
    return "".join(f"{row}\r\n" for row in rows).encode("gb18030")


@dataclass
class Importers:
    """The API's and the CLI's registry imports, on one database, as an admin."""

    client: TestClient
    auth: dict[str, str]
    db_url: str
    capsys: pytest.CaptureFixture[str]

    def api(self, kind: str, body: bytes, **params: str) -> dict[str, Any]:
        """Import ``body`` as a CSV of ``kind`` through the API; its summary."""
        answer = self.client.post(
            f"/api/v1/{kind}/import",
            content=body,
            params=params,
            headers={**self.auth, "Content-Type": "text/csv"},
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def cli(self, kind: str, path: Path, *flags: str) -> tuple[int, dict[str, Any], str]:
        """Import ``path`` with ``firegrid <kind> import``; its exit code, summary and stderr."""
        code = main(["--db-url", self.db_url, kind, "import", str(path), *flags])
        captured = self.capsys.readouterr()
        return code, json.loads(captured.out.strip().splitlines()[-1]), captured.err

    def get(self, path: str) -> Any:
        """GET ``path`` from the API."""
        return self.client.get(path, headers=self.auth)

    def unit(self, unit_id: str) -> Any:
        """GET a unit's file from the API."""
        return self.get(f"/api/v1/units/{unit_id}")


@pytest.fixture
def imports(
    client: TestClient, auth: dict[str, str], db_url: str, capsys: pytest.CaptureFixture[str]
) -> Importers:
    """The API's and the CLI's imports."""
    return Importers(client, auth, db_url, capsys)


def test_a_gb18030_excel_csv_imports_with_its_chinese_names(
    imports: Importers, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    body = _excel_csv(
        [
            "unit_id,name,level,address,responsible",
            f"A-{tag},金桥国际商业广场,1,浦东新区新金桥路58号,张三",
            f"B-{tag},碧云社区养老院,2,,李四",
        ]
    )
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")  # the file really is not UTF-8
    answer = imports.api("units", body)
    assert (answer["encoding"], answer["format"], answer["created"]) == ("gb18030", "csv", 2)
    unit = imports.unit(f"A-{tag}").json()["unit"]
    assert (unit["name"], unit["address"]) == ("金桥国际商业广场", "浦东新区新金桥路58号")

    path = tmp_path / "单位.csv"
    path.write_bytes(body.replace(b"A-", b"C-").replace(b"B-", b"D-"))
    code, out, _ = imports.cli("units", path)
    assert (code, out["encoding"], out["created"]) == (0, "gb18030", 2)
    assert imports.unit(f"D-{tag}").json()["unit"]["name"] == "碧云社区养老院"


def test_a_utf8_file_with_a_bom_imports_and_says_so(imports: Importers, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    text = f"staff_id,name,role,area\r\nS-{tag},王五,grid_worker,310115005001\r\n"
    path = tmp_path / "staff.csv"
    path.write_bytes(codecs.BOM_UTF8 + text.encode())
    code, out, _ = imports.cli("staff", path)
    assert (code, out["encoding"], out["created"], out["errors"]) == (0, "utf-8-sig", 1, [])
    again = imports.api("staff", codecs.BOM_UTF8 + text.encode())
    assert (again["encoding"], again["updated"]) == ("utf-8-sig", 1)


def test_errors_on_lines_3_and_7_are_lines_3_and_7_in_the_api_and_the_cli(
    imports: Importers, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    imports.api("units", _excel_csv(["unit_id,name", f"U-{tag},金桥大厦"]))
    body = _excel_csv(
        [
            "device_id,kind,model,unit_id",  # line 1
            f"{tag}-1,smoke,烟感一号,U-{tag}",  # 2
            f"{tag}-2,toaster,,",  # 3: no such kind
            f'{tag}-3,smoke,"两行\r\n的型号",',  # 4-5: one record over two lines
            "",  # 6: blank, skipped
            f"{tag}-4,hydrant,,U-nowhere-{tag}",  # 7: a unit nobody registered
            f"{tag}-5,hydrant,,",  # 8
        ]
    )
    via_api = imports.api("devices", body)
    path = tmp_path / "devices.csv"
    path.write_bytes(body)
    code, via_cli, err = imports.cli("devices", path)
    assert code == 2
    for result in (via_api, via_cli):
        assert [(e["line"], e["field"]) for e in result["errors"]] == [
            (3, "kind"),
            (7, "unit_id"),
        ]
        assert result["rejected"] == 2
        assert "import it first" in result["errors"][1]["message"]
    assert (via_api["created"], via_cli["updated"]) == (3, 3)
    assert "2 row(s) refused (lines 3, 7)" in err
    # The refused device is not stored.
    missing = imports.get(f"/api/v1/devices/{tag}-4")
    assert missing.status_code == 404


def test_a_dry_run_says_what_would_happen_and_writes_nothing(
    imports: Importers, db_url: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    body = _excel_csv(["unit_id,name", f"E-{tag},试运行大厦", f"F-{tag},", f"G-{tag},另一栋"])
    answer = imports.api("units", body, dry_run="true")
    assert (answer["dry_run"], answer["created"], answer["rejected"]) == (True, 2, 1)
    assert [e["line"] for e in answer["errors"]] == [3]
    assert imports.unit(f"E-{tag}").status_code == 404

    path = tmp_path / "units.csv"
    path.write_bytes(body)
    code, out, _ = imports.cli("units", path, "--dry-run")
    assert (code, out["dry_run"], out["created"], out["rejected"]) == (2, True, 2, 1)
    assert imports.unit(f"G-{tag}").status_code == 404
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM key_units WHERE unit_id LIKE %s", (f"%-{tag}",)
        ).fetchone()
    assert row == (0,)
