"""The verification report, as Markdown for people and JSON for machines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from banklake.verify.checks import Check, Verification

MARKDOWN_NAME = "verification.md"
JSON_NAME = "verification.json"


def write_reports(verification: Verification, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    markdown = directory / MARKDOWN_NAME
    machine = directory / JSON_NAME
    markdown.write_text(render_markdown(verification), encoding="utf-8")
    machine.write_text(to_json(verification.to_dict()) + "\n", encoding="utf-8")
    return markdown, machine


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


def render_markdown(verification: Verification) -> str:
    verdict = "PASSED" if verification.passed else "FAILED"
    lines = [
        "# banklake verification report",
        "",
        f"**{verdict}**: generated {verification.generated_at}, lakehouse "
        f"`{verification.lakehouse}`, landing `{verification.landing}`.",
    ]
    if verification.tables:
        lines += [
            "",
            "## Tables",
            "",
            "| table | rows | data files | snapshots | partitioning |",
            "|---|---:|---:|---:|---|",
        ]
    for t in verification.tables:
        partitioning = t["partitioning"].replace("\n", " ")
        lines.append(
            f"| {t['table']} | {t['rows']:,} | {t['data_files']} | {t['snapshots']} "
            f"| `{partitioning}` |"
        )
    for check in verification.checks:
        lines += ["", f"## {check.title}: {'pass' if check.passed else 'FAIL'}", ""]
        lines += _RENDERERS[check.id](check)
    return "\n".join(lines) + "\n"


def _integrity(check: Check) -> list[str]:
    d = check.details
    lines = [
        "| rows in the files | in Gold | quarantined | duplicates | in rejected files |",
        "|---:|---:|---:|---:|---:|",
        f"| {d['rows_read']:,} | {d['rows_in_gold']:,} | {d['rows_quarantined']:,} "
        f"| {d['rows_duplicate']:,} | {d['rows_in_rejected_files']:,} |",
        "",
        f"{d['input_files']} files; read = Gold + quarantined + duplicates + rejected: "
        f"`{d['equation']}`.",
        "",
        "```sql",
        d["gold_sql"],
        "```",
        "",
        "The ledger, per file (the latest record of each):",
        "",
        "| file | status | read | loaded | quarantined | duplicate | flagged |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['source_file']} | {r['status']} | {r['rows_read']:,} | {r['rows_loaded']:,} "
        f"| {r['rows_quarantined']:,} | {r['rows_duplicate']:,} | {r['rows_flagged']:,} |"
        for r in d["ledger"]
    ]
    if d["problems"]:
        lines += ["", "Problems:", "", *(f"- {problem}" for problem in d["problems"])]
    return lines


def _rows_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["(no rows)"]
    header = list(rows[0])
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(row[c]) for c in header) + " |" for row in rows]
    return out


def _business(check: Check) -> list[str]:
    d = check.details
    return [
        "The seed's query, as written:",
        "",
        "```sql",
        d["seed_sql"],
        "```",
        "",
        *_rows_table(d["seed_result"]),
        "",
        *[
            f"In the seed's result, **{name}** is {count} different customers added together."
            for name, count in d["seed_namesakes"].items()
        ],
        "",
        *[f"- **Problem:** {problem}" for problem in d.get("problems", [])],
        "",
        f"Corrected ({d['why_corrected']}); window {d['window']}:",
        "",
        "```sql",
        d["corrected_sql"],
        "```",
        "",
        *_rows_table(d["corrected_result"]),
        "",
        f"Re-computed independently through {d.get('independent_how', 'a PyIceberg scan')}: "
        + ", ".join(f"{c} {v}" for c, v in d["independent_result"]),
    ]


def _maintenance(check: Check) -> list[str]:
    out = [
        "| table | compaction | target MB | keep snapshots | max age h | compaction job "
        "| snapshot job | unreferenced files job |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for name, t in check.details["tables"].items():
        jobs = [f"{j['status']} {j['summary']}".strip() for j in t["jobs"].values()]
        out.append(
            f"| {name} | {t['compaction']} | {t['target_file_size_mb']} "
            f"| {t['min_snapshots_to_keep']} | {t['max_snapshot_age_hours']} | "
            + " | ".join(jobs)
            + " |"
        )
    run = check.details.get("glue_job")  # on AWS: the load that wrote the tables
    if run:
        out += ["", f"Glue job {run['job']}, last run {run['run_id']}: {run['state']}."]
    return out


_RENDERERS = {
    "data_integrity": _integrity,
    "business_logic": _business,
    "maintenance": _maintenance,
}
