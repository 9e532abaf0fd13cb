"""Reads the column tables of docs/warehouse.md, so tests keep the docs and the views in step."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "warehouse.md"


def documented_columns(view: str) -> list[str]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"### `{view}`")
    columns = []
    for line in lines[start + 1 :]:
        if line.startswith("### ") or line.startswith("## "):
            break
        match = re.match(r"^\| ([a-z_0-9]+) \|", line)
        if match and match.group(1) != "column":
            columns.append(match.group(1))
    return columns
