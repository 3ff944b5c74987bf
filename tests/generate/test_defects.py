"""Labelled defects: the pipeline's quarantine and flags must match the manifest exactly."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from tests.conftest import assert_matches_the_files

from banklake.config import load_settings
from banklake.contracts import ENTITIES, MALFORMED_ROW_RULE, RULES
from banklake.errors import UsageError
from banklake.generate import GeneratorSpec, generate
from banklake.generate.defects import (
    ACCOUNT_DEFECTS,
    CUSTOMER_DEFECTS,
    EARLIER_SNAPSHOT,
    LATE_CUSTOMER,
    ORPHAN,
    TRANSACTION_DEFECTS,
)
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import run
from banklake.verify.checks import count_data_rows

SPEC = GeneratorSpec(
    customers=300, accounts=400, days=5, transactions=20_000, end_date=date.today(), seed=11,
    defect_rate=0.03,
)  # fmt: skip


@pytest.mark.parametrize("snapshots", ["last", "daily"])
def test_pipeline_matches_the_defect_manifest(tmp_path: Path, engine: str, snapshots: str) -> None:
    files = generate(replace(SPEC, snapshots=snapshots), tmp_path / "landing")
    assert files.manifest is not None
    manifest = json.loads(files.manifest.read_text())
    defects, file_defects = manifest["defects"], manifest["files"]
    kinds = {d["kind"] for d in defects} | {f["kind"] for f in file_defects}
    every = {k.name for k in (*TRANSACTION_DEFECTS, *CUSTOMER_DEFECTS, *ACCOUNT_DEFECTS)}
    extra = {ORPHAN, "truncated_last_line", "duplicate_file", "not_utf8"}
    # Every rule of the catalogue is reached, and the manifest says so. Daily snapshots hold
    # each day's customers and accounts together: an account never lacks its customer there.
    catalogue = [*(rule.id for rule in RULES), MALFORMED_ROW_RULE]
    unreached = ["tx_customer_known"] if snapshots == "daily" else []
    if not unreached:
        extra |= {LATE_CUSTOMER, EARLIER_SNAPSHOT}
    assert kinds == every | extra
    assert manifest["rules_covered"] == [r for r in catalogue if r not in unreached]
    assert manifest["rules_not_covered"] == unreached
    assert {rule for d in defects for rule in d["rule_ids"]} == set(catalogue) - set(unreached)
    _causes_are_described(defects, file_defects)
    # The defects are many by design: Test 1 here judges where the rows went, not how many.
    settings = load_settings(
        landing=tmp_path / "landing", lakehouse=tmp_path / "lh", max_quarantine_share=1.0
    )
    result = run(settings, engine)
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)

    def rows(table: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            lakehouse.catalog.load_table(f"analytics_db.{table}").scan().to_arrow().to_pylist()
        )
        return found

    # Every quarantined line, with every rule it failed: a day sent twice repeats its original's.
    expected = {
        (d["entity"], d["file"], d["line"]): d["rule_ids"]
        for d in defects
        if d["outcome"] == "quarantined"
    }
    copies = {f["file"]: f["copy_of"] for f in file_defects if f["kind"] == "duplicate_file"}
    for copy, original in copies.items():
        expected |= {(e, copy, line): r for (e, f, line), r in expected.items() if f == original}
    quarantined = {
        (r["entity"], r["source_file"], r["line_number"]): r["rule_ids"] for r in rows("quarantine")
    }
    assert quarantined == expected

    # The ledger: every file's rows placed exactly where the manifest says.
    ledger = {r["source_file"]: r for r in rows("load_ledger")}
    assert ledger.pop("defects_manifest.json")["status"] == "ignored"  # the generator's note
    rejected = {f["file"] for f in file_defects if f["outcome"] == "rejected"}
    assert {name for name, r in ledger.items() if r["status"] == "rejected"} == rejected
    for name, record in ledger.items():
        if name in rejected:
            continue
        read = count_data_rows(settings.landing / name)
        held = sum(1 for _, file, _ in expected if file == name)
        copies_of = sum(1 for d in defects if d["file"] == name and d["outcome"] == "duplicate")
        duplicate = read - held if name in copies else copies_of
        placed = (record["rows_read"], record["rows_quarantined"], record["rows_duplicate"])
        assert placed == (read, held, duplicate), name
        assert record["rows_loaded"] == read - held - duplicate, name

    flagged = {
        (entity, str(r[key])): r["quality_flags"]
        for entity, key in (("customers", "customer_id"), ("transactions", "tx_id"))
        for r in rows(entity)
        if r["quality_flags"]
    }
    assert flagged == {
        (d["entity"], d["key"]): d["rule_ids"] for d in defects if d["outcome"] == "flagged"
    }
    # A copy counted as a duplicate left its key loaded once, in its latest version.
    for d in defects:
        if d["outcome"] == "duplicate":
            key = next(e.key for e in ENTITIES if e.name == d["entity"])
            found = [r for r in rows(d["entity"]) if r[key] == d["key"] and r.get("is_current", 1)]
            assert len(found) == 1, d
    gold = lakehouse.catalog.load_table("analytics_db.enriched_transactions").scan().to_arrow()
    untidy = [
        d["key"] for d in defects if d["kind"] == "tx_type_untidy" and d["outcome"] == "loaded"
    ]
    cleaned = gold.filter(pc.is_in(gold["tx_id"], value_set=pc.cast(untidy, "string")))
    assert cleaned.num_rows == len(untidy)
    assert set(cleaned["tx_type"].to_pylist()) <= {"Credit", "Debit"}
    loaded = sum(r.rows_loaded for r in result.files if r.entity == "transactions")
    assert gold.num_rows == loaded
    assert_matches_the_files(settings)  # and the files, read without banklake, agree


def _causes_are_described(defects: list[dict[str, Any]], files: list[dict[str, Any]]) -> None:
    """A row that fails by another row's defect names it, and that row is in the manifest."""
    origins = {(d["entity"], d.get("original_key", d["key"]), d["kind"]) for d in defects}
    late = [f for f in files if f["kind"] == EARLIER_SNAPSHOT]
    origins |= {("customers", key, LATE_CUSTOMER) for f in late for key in f["without"]}
    caused = [d for d in defects if "cause" in d]
    assert caused and all(d["cause"]["entity"] != d["entity"] for d in caused)
    for d in caused:
        cause = d["cause"]
        assert (cause["entity"], cause["key"], cause["kind"]) in origins, d


def _digest(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.*"))}


def test_defects_are_reproducible_and_absent_by_default(tmp_path: Path) -> None:
    first = generate(SPEC, tmp_path / "a").manifest
    second = generate(SPEC, tmp_path / "b").manifest
    assert first is not None and second is not None
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")  # every file, byte for byte
    clean = generate(GeneratorSpec(**{**SPEC.__dict__, "defect_rate": 0.0}), tmp_path / "c")
    assert clean.manifest is None and not (tmp_path / "c" / "defects_manifest.json").exists()


@pytest.mark.parametrize("rate", [-0.1, 0.6])
def test_defect_rate_bounds(tmp_path: Path, rate: float) -> None:
    with pytest.raises(UsageError, match=r"--defect-rate must be between 0 and 0\.5"):
        generate(GeneratorSpec(defect_rate=rate), tmp_path)
