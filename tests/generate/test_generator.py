from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from banklake.contracts import ACCOUNTS, CUSTOMERS, TRANSACTIONS
from banklake.errors import UsageError
from banklake.generate import GeneratorSpec, generate
from banklake.generate import generator as generator_module

END = date(2026, 3, 31)  # a Tuesday; the 14 days before it hold two weekends


def _read(path: Path) -> pa.Table:
    columns = path.read_text().splitlines()[0].split(",")
    options = pacsv.ConvertOptions(column_types={c: pa.string() for c in columns})
    return pacsv.read_csv(path, convert_options=options)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.csv"))
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = GeneratorSpec(
        customers=500, accounts=800, days=14, transactions=60_000, end_date=END, seed=3
    )
    landing = tmp_path_factory.mktemp("gen") / "landing"
    generate(spec, landing)
    return landing


def test_layout_one_transactions_file_per_day(dataset: Path) -> None:
    days = [END - timedelta(days=i) for i in range(14)]
    expected = {f"transactions_{d.isoformat()}.csv" for d in days}
    assert {p.name for p in (dataset / "transactions").iterdir()} == expected
    assert [p.name for p in (dataset / "customers").iterdir()] == ["customers_2026-03-31.csv"]
    assert [p.name for p in (dataset / "accounts").iterdir()] == ["accounts_2026-03-31.csv"]


def test_columns_exactly_as_the_seed_schema(dataset: Path) -> None:
    assert (
        (dataset / "customers" / "customers_2026-03-31.csv")
        .read_text()
        .startswith("customer_id,name,email,country\n")
    )
    assert (
        (dataset / "accounts" / "accounts_2026-03-31.csv")
        .read_text()
        .startswith("account_id,customer_id,account_type,balance\n")
    )
    for path in (dataset / "transactions").iterdir():
        assert path.read_text().startswith("tx_id,account_id,amount,tx_type,timestamp\n")


def test_value_formats(dataset: Path) -> None:
    tx = pa.concat_tables(_read(p) for p in sorted((dataset / "transactions").iterdir()))
    assert tx.num_rows == 60_000
    assert pc.all(pc.match_substring_regex(tx["amount"], r"^\d+\.\d{2}$")).as_py()
    stamp = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
    assert pc.all(pc.match_substring_regex(tx["timestamp"], stamp)).as_py()
    assert set(tx["tx_type"].to_pylist()) == {"Credit", "Debit"}
    accounts = _read(dataset / "accounts" / "accounts_2026-03-31.csv")
    assert pc.all(pc.match_substring_regex(accounts["balance"], r"^-?\d+\.\d{2}$")).as_py()
    assert set(accounts["account_type"].to_pylist()) == {"Savings", "Current"}
    customers = _read(dataset / "customers" / "customers_2026-03-31.csv")
    assert pc.all(pc.match_substring_regex(customers["email"], r"^[a-z.0-9]+@[a-z.]+$")).as_py()
    assert len(set(customers["country"].to_pylist())) >= 5


def test_each_file_is_its_own_business_day(dataset: Path) -> None:
    for path in (dataset / "transactions").iterdir():
        day = re.search(r"\d{4}-\d{2}-\d{2}", path.name)
        assert day is not None
        assert pc.all(pc.starts_with(_read(path)["timestamp"], day.group())).as_py()


def test_keys_unique_and_references_resolve(dataset: Path) -> None:
    tx = pa.concat_tables(_read(p) for p in (dataset / "transactions").iterdir())
    accounts = _read(dataset / "accounts" / "accounts_2026-03-31.csv")
    customers = _read(dataset / "customers" / "customers_2026-03-31.csv")
    for table, key in ((tx, "tx_id"), (accounts, "account_id"), (customers, "customer_id")):
        assert pc.count_distinct(table[key]).as_py() == table.num_rows
    assert pc.all(pc.is_in(tx["account_id"], accounts["account_id"])).as_py()
    assert pc.all(pc.is_in(accounts["customer_id"], customers["customer_id"])).as_py()
    # Some customers hold several accounts.
    assert pc.count_distinct(accounts["customer_id"]).as_py() < accounts.num_rows


def test_realistic_shape(dataset: Path) -> None:
    files = sorted((dataset / "transactions").iterdir())
    per_day = {date.fromisoformat(p.stem[-10:]): _read(p).num_rows for p in files}
    weekend = np.mean([n for d, n in per_day.items() if d.weekday() >= 5])
    weekday = np.mean([n for d, n in per_day.items() if d.weekday() < 5])
    assert weekend < 0.85 * weekday
    tx = pa.concat_tables(_read(p) for p in files)
    amounts = np.array(tx["amount"].to_pylist(), dtype=float)
    assert amounts.max() > 50 * np.median(amounts)  # heavy tail
    hours = np.array([int(t[11:13]) for t in tx["timestamp"].to_pylist()])
    assert (hours == 12).sum() > 5 * (hours == 3).sum()  # busy middays, quiet nights
    counts = np.sort(np.unique(tx["account_id"].to_pylist(), return_counts=True)[1])[::-1]
    assert counts[: len(counts) // 10].sum() > 0.25 * counts.sum()  # skewed activity


def test_same_options_and_seed_give_identical_bytes(tmp_path: Path) -> None:
    spec = GeneratorSpec(customers=50, accounts=80, days=3, transactions=3_000, end_date=END)
    generate(spec, tmp_path / "a")
    generate(spec, tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    generate(GeneratorSpec(**{**spec.__dict__, "seed": 43}), tmp_path / "c")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_writes_in_bounded_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A day larger than one chunk is written chunk by chunk; keys stay unique across chunks."""
    monkeypatch.setattr(generator_module, "CHUNK_ROWS", 1_000)
    sizes: list[int] = []
    original = generator_module._transaction_chunks

    def spy(*args: object) -> object:
        for chunk in original(*args):  # type: ignore[arg-type]
            sizes.append(chunk.num_rows)
            yield chunk

    monkeypatch.setattr(generator_module, "_transaction_chunks", spy)
    spec = GeneratorSpec(customers=10, accounts=10, days=1, transactions=2_500, end_date=END)
    generate(spec, tmp_path)
    assert sizes == [1_000, 1_000, 500]
    tx = _read(tmp_path / "transactions" / "transactions_2026-03-31.csv")
    assert tx.num_rows == 2_500
    assert pc.count_distinct(tx["tx_id"]).as_py() == 2_500


def test_no_partial_files_left_behind(dataset: Path) -> None:
    assert not [p for p in dataset.rglob("*") if p.name.startswith(".")]


def test_money_text_is_exact() -> None:
    cents = np.array([0, 5, 99, 100, 123456, -1, -250, 2_500_000_000], dtype=np.int64)
    assert generator_module._money(cents).to_pylist() == [
        "0.00", "0.05", "0.99", "1.00", "1234.56", "-0.01", "-2.50", "25000000.00",
    ]  # fmt: skip


@pytest.mark.parametrize("field", ["customers", "accounts", "days"])
def test_rejects_non_positive_sizes(field: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=f"--{field} must be at least 1"):
        generate(GeneratorSpec(**{field: 0}), tmp_path)


def test_entities_cover_the_contracts() -> None:
    assert CUSTOMERS.source_columns == ("customer_id", "name", "email", "country")
    assert ACCOUNTS.source_columns == ("account_id", "customer_id", "account_type", "balance")
    assert TRANSACTIONS.source_columns == ("tx_id", "account_id", "amount", "tx_type", "timestamp")


def test_daily_snapshots_carry_history_the_pipeline_keeps(tmp_path: Path) -> None:
    from banklake.config import load_settings
    from banklake.lakehouse.catalog import Lakehouse
    from banklake.pipeline import run

    spec = GeneratorSpec(
        customers=300, accounts=500, days=8, transactions=8_000, end_date=END, seed=5,
        snapshots="daily",
    )  # fmt: skip
    landing = tmp_path / "landing"
    files = generate(spec, landing)
    assert len(files.customers) == len(files.accounts) == 8
    by_day = {
        d: {
            "customers": _read(landing / "customers" / f"customers_{d.isoformat()}.csv"),
            "accounts": _read(landing / "accounts" / f"accounts_{d.isoformat()}.csv"),
        }
        for d in spec.business_days
    }
    first, last = by_day[spec.business_days[0]], by_day[spec.business_days[-1]]
    opened = set(last["accounts"]["account_id"].to_pylist()) - set(
        first["accounts"]["account_id"].to_pylist()
    )
    closed = set(first["accounts"]["account_id"].to_pylist()) - set(
        last["accounts"]["account_id"].to_pylist()
    )
    assert opened and closed
    moved = pc.sum(pc.not_equal(first["customers"]["country"], last["customers"]["country"]))
    assert moved.as_py() > 0
    for day, snapshot in by_day.items():  # every transaction is on an account open that day
        tx = _read(landing / "transactions" / f"transactions_{day.isoformat()}.csv")
        assert pc.all(pc.is_in(tx["account_id"], snapshot["accounts"]["account_id"])).as_py()

    settings = load_settings(landing=landing, lakehouse=tmp_path / "lh")
    run(settings)
    lakehouse = Lakehouse.local(settings.lakehouse, settings.namespace)
    tables = lakehouse.tables()
    assert tables["quarantine"].scan().to_arrow().num_rows == 0
    accounts = tables["accounts"].scan().to_arrow()
    assert accounts.num_rows > spec.accounts  # balances and types moved: several versions
    gold = tables["enriched_transactions"].scan().to_arrow().to_pylist()
    for row in gold[::97]:  # Gold holds each row's customer and account as they were that day
        snapshot = by_day[row["tx_date"]]
        customer = snapshot["customers"].filter(pc.field("customer_id") == row["customer_id"])
        account = snapshot["accounts"].filter(pc.field("account_id") == row["account_id"])
        assert customer["country"].to_pylist() == [row["country"]]
        assert account["balance"].to_pylist() == [f"{row['balance']:.2f}"]
