"""Benchmark reports: one JSON for machines, one Markdown for people, both from the same dict."""

from __future__ import annotations

import json
from pathlib import Path

from fluorogate.outputs import write_text_atomic


def markdown_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A GitHub Markdown table of `rows` (dicts), columns in first-seen order unless given."""
    if not rows:
        return "_(no rows)_\n"
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_report(report: dict, markdown: str, out_dir: Path, stem: str = "bench", force: bool = True) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.md` into `out_dir` atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = write_text_atomic(out_dir / f"{stem}.json", json.dumps(report, indent=2, default=str), force)
    md_path = write_text_atomic(out_dir / f"{stem}.md", markdown, force)
    return json_path, md_path
