"""Tests 1 and 2 held against an expected value computed without banklake (``tests.oracle``).

Each verdict must agree with what the landing files dictate, and each must fail when the answer
it checks is wrong: a window off by a day, namesakes merged, Gold out of step with the files.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from tests.conftest import assert_matches_the_files, write_csv
from tests.oracle import expected

from banklake.config import Settings, load_settings
from banklake.generate import GeneratorSpec, generate
from banklake.pipeline import run
from banklake.verify import checks
from banklake.verify.checks import verify

END = date(2026, 11, 30)  # the data's last day; Test 2's window is anchored there
HISTORY = GeneratorSpec(
    customers=80, accounts=120, days=45, transactions=4_000, end_date=END, seed=5,
    snapshots="daily",
)  # fmt: skip


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """45 days of clean history with daily snapshots: Test 2's window holds 30 of them."""
    path = tmp_path_factory.mktemp("history") / "landing"
    generate(HISTORY, path)
    return path


def _settings(landing: Path, tmp_path: Path) -> Settings:
    copy = Path(shutil.copytree(landing, tmp_path / "landing"))
    return load_settings(landing=copy, lakehouse=tmp_path / "lakehouse", max_quarantine_share=1)


@pytest.mark.parametrize("seed", [3, 8])
def test_test_1_terms_are_the_files_own(tmp_path: Path, seed: int) -> None:
    """With every kind of defect, loaded in three batches: every term as counted from the
    files, and every Gold row joined to the customer of its date."""
    spec = GeneratorSpec(
        customers=60, accounts=90, days=12, transactions=3_000, end_date=END, seed=seed,
        snapshots="daily", defect_rate=0.05,
    )  # fmt: skip
    landing = tmp_path / "generated"
    generate(spec, landing)
    settings = _settings(landing, tmp_path)
    want = expected(settings.landing)
    assert want.duplicates and want.quarantined and want.rows_in_rejected_files  # all terms
    for until in (END - timedelta(days=8), END - timedelta(days=3), None):
        run(settings, until=until)
    assert_matches_the_files(settings, want)


def _leaders(landing: Path) -> None:
    """Credits that lead only where the window is wrong (one the day before it, one the day
    after its end), one on its first day that leads, and two namesakes who lead the seed's
    query only when their credits are added together."""
    first = END - timedelta(days=29)
    customers = (
        "CUST_900000001,Ada Twin,a1@example.com,UK\nCUST_900000002,Ada Twin,a2@example.com,UK\n"
        "CUST_900000003,Early Bird,e@example.com,UK\nCUST_900000004,Late Comer,l@example.com,UK\n"
        "CUST_900000005,First Day,f@example.com,UK\n"
    )
    accounts = "".join(f"ACC_90000000{n},CUST_90000000{n},Savings,1.00\n" for n in range(1, 6))
    for day in range(45):  # in every daily snapshot, as a second file of that date
        snapshot = END - timedelta(days=day)
        write_csv(
            landing / "customers" / f"customers_{snapshot}_more.csv",
            "customer_id,name,email,country\n" + customers,
        )
        write_csv(
            landing / "accounts" / f"accounts_{snapshot}_more.csv",
            "account_id,customer_id,account_type,balance\n" + accounts,
        )
    rows = [
        ("TX_900000001", "ACC_900000001", "500000.00", first + timedelta(days=3)),
        ("TX_900000002", "ACC_900000002", "500000.00", first + timedelta(days=4)),
        ("TX_900000003", "ACC_900000003", "900000.00", first - timedelta(days=1)),
        ("TX_900000004", "ACC_900000004", "850000.00", END + timedelta(days=1)),
        ("TX_900000005", "ACC_900000005", "800000.00", first),
    ]
    for tx_id, account, amount, day in rows:
        write_csv(
            landing / "transactions" / f"transactions_{day}_x.csv",
            "tx_id,account_id,amount,tx_type,timestamp\n"
            f"{tx_id},{account},{amount},Credit,{day} 12:00:00\n",
        )


def test_test_2_is_the_files_own_answer(history: Path, tmp_path: Path) -> None:
    settings = _settings(history, tmp_path)
    _leaders(settings.landing)
    run(settings)
    want = expected(settings.landing)
    assert_matches_the_files(settings, want)  # the second file of each date is in its snapshot
    logic = verify(settings, window_end=END).checks[1]
    assert logic.passed, logic.details["problems"]
    got = [(r["customer_id"], r["total_volume"]) for r in logic.details["corrected_result"]]
    assert got == want.top3(END)
    assert got[0] == ("CUST_900000005", Decimal("800000.00"))  # the window's first day counts
    # The days around the window matter: a day more on either side changes the answer.
    assert want.top3(END) != want.top3(END + timedelta(days=1))
    assert want.top3(END) != want.top3(END - timedelta(days=1))
    seed = [(r["name"], r["total_volume"]) for r in logic.details["seed_result"]]
    assert seed == want.seed_top3()
    assert seed[0] == ("Ada Twin", Decimal("1000000.00"))  # two customers added together
    assert got[1:] == [
        ("CUST_900000001", Decimal("500000.00")),
        ("CUST_900000002", Decimal("500000.00")),
    ]
    assert logic.details["seed_namesakes"] == {"Ada Twin": 2}


WRONG_SQL = {
    # The window a day too long: it takes in the credit the day before it.
    "window off by one": lambda sql: sql.replace("INTERVAL '29' DAY", "INTERVAL '30' DAY"),
    # No window at all: the credit after its end counts as well.
    "no window": lambda sql: sql.replace("AND tx_date BETWEEN", "OR tx_date BETWEEN"),
    # The seed's grouping: the namesakes become one customer.
    "namesakes merged": lambda sql: sql.replace(
        "SELECT customer_id, name,", "SELECT min(customer_id) AS customer_id, name,"
    ).replace("GROUP BY customer_id, name", "GROUP BY name"),
}


@pytest.mark.parametrize("mistake", WRONG_SQL)
def test_test_2_fails_when_the_answer_is_wrong(
    history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mistake: str
) -> None:
    settings = _settings(history, tmp_path)
    _leaders(settings.landing)
    run(settings)
    real = checks.corrected_top3_sql
    monkeypatch.setattr(  # the fault: the query Test 2 runs gives another answer
        checks, "corrected_top3_sql", lambda *args: WRONG_SQL[mistake](real(*args))
    )
    logic = verify(settings, window_end=END).checks[1]
    assert not logic.passed
    want = [list(pair) for pair in expected(settings.landing).top3(END)]
    assert logic.details["independent_result"] == want
    (problem,) = logic.details["problems"]
    assert problem.startswith("the SQL answer [") and problem.endswith(
        f"differs from the independent one {[tuple(pair) for pair in want]}"
    )
