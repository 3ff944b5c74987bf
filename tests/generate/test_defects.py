"""Labelled defects: the pipeline's quarantine and flags must match the manifest exactly."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest

from banklake.config import load_settings
from banklake.errors import UsageError
from banklake.generate import GeneratorSpec, generate
from banklake.generate.defects import CUSTOMER_DEFECTS, TRANSACTION_DEFECTS
from banklake.lakehouse.catalog import Lakehouse
from banklake.pipeline import run

SPEC = GeneratorSpec(
    customers=300, accounts=400, days=5, transactions=20_000, end_date=date.today(), seed=11,
    defect_rate=0.03,
)  # fmt: skip


def test_pipeline_matches_the_defect_manifest(tmp_path: Path, engine: str) -> None:
    files = generate(SPEC, tmp_path / "landing")
    assert files.manifest is not None
    defects = json.loads(files.manifest.read_text())["defects"]
    kinds = {d["kind"] for d in defects}
    assert kinds == {k.name for k in (*TRANSACTION_DEFECTS, *CUSTOMER_DEFECTS)}  # every kind
    settings = load_settings(landing=tmp_path / "landing", lakehouse=tmp_path / "lh")
    result = run(settings, engine)
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)

    def rows(table: str) -> list[dict[str, object]]:
        found: list[dict[str, object]] = (
            lakehouse.catalog.load_table(f"analytics_db.{table}").scan().to_arrow().to_pylist()
        )
        return found

    quarantined = {
        (r["entity"], r["source_file"], r["line_number"]): r["rule_ids"] for r in rows("quarantine")
    }
    assert quarantined == {
        (d["entity"], d["file"], d["line"]): d["rule_ids"]
        for d in defects
        if d["outcome"] == "quarantined"
    }
    flagged = {
        (entity, str(r[key])): r["quality_flags"]
        for entity, key in (("customers", "customer_id"), ("transactions", "tx_id"))
        for r in rows(entity)
        if r["quality_flags"]
    }
    assert flagged == {
        (d["entity"], d["key"]): d["rule_ids"] for d in defects if d["outcome"] == "flagged"
    }
    gold = lakehouse.catalog.load_table("analytics_db.enriched_transactions").scan().to_arrow()
    untidy = [d["key"] for d in defects if d["kind"] == "tx_type_untidy"]
    cleaned = gold.filter(pc.is_in(gold["tx_id"], value_set=pc.cast(untidy, "string")))
    assert cleaned.num_rows == len(untidy)
    assert set(cleaned["tx_type"].to_pylist()) <= {"Credit", "Debit"}
    tx_quarantined = sum(
        1 for d in defects if d["entity"] == "transactions" and d["outcome"] == "quarantined"
    )
    assert (
        gold.num_rows
        == SPEC.transactions - tx_quarantined
        == result.rows_read("transactions") - tx_quarantined
    )


def test_defects_are_reproducible_and_absent_by_default(tmp_path: Path) -> None:
    first = generate(SPEC, tmp_path / "a").manifest
    second = generate(SPEC, tmp_path / "b").manifest
    assert first is not None and second is not None
    assert first.read_bytes() == second.read_bytes()
    clean = generate(GeneratorSpec(**{**SPEC.__dict__, "defect_rate": 0.0}), tmp_path / "c")
    assert clean.manifest is None and not (tmp_path / "c" / "defects_manifest.json").exists()


@pytest.mark.parametrize("rate", [-0.1, 0.6])
def test_defect_rate_bounds(tmp_path: Path, rate: float) -> None:
    with pytest.raises(UsageError, match=r"--defect-rate must be between 0 and 0\.5"):
        generate(GeneratorSpec(defect_rate=rate), tmp_path)
