"""The commands as a user runs them: options, exit codes, --json on stdout, messages on stderr."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from banklake import __version__
from banklake.cli import _quarantine_table, app

runner = CliRunner()


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def landed(tmp_path: Path) -> Path:
    code, _, err = invoke(
        "generate", "--customers", "50", "--accounts", "80", "--days", "5",
        "--transactions", "2000", "--seed", "1", "--landing", tmp_path / "landing",
    )  # fmt: skip
    assert code == 0, err
    return tmp_path


def test_generate_json(tmp_path: Path) -> None:
    code, out, _ = invoke(
        "generate", "--transactions", "100", "--days", "2", "--end-date", "2026-02-28",
        "--customers", "5", "--accounts", "5", "--landing", tmp_path / "l", "--json",
    )  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert result["rows"] == {"customers": 5, "accounts": 5, "transactions": 100}
    assert (result["first_day"], result["last_day"]) == ("2026-02-27", "2026-02-28")
    assert (tmp_path / "l" / "transactions" / "transactions_2026-02-27.csv").exists()


def test_run_verify_query_maintain(landed: Path) -> None:
    paths = ("--landing", landed / "landing", "--lakehouse", landed / "lh")
    code, out, _ = invoke("run", *paths, "--json")
    assert code == 0
    run = json.loads(out)
    assert {t["table"]: t["rows"] for t in run["tables"]}["enriched_transactions"] == 2000

    code, out, _ = invoke("maintain", "--lakehouse", landed / "lh", "--json")
    assert code == 0 and set(json.loads(out)) >= {"enriched_transactions"}

    code, out, _ = invoke("verify", *paths, "--reports", landed / "reports", "--json")
    assert code == 0 and json.loads(out)["passed"] is True
    assert (landed / "reports" / "verification.md").exists()

    sql = (
        'SELECT tx_type, count(*) AS n FROM "s3tablescatalog"."analytics_db".'
        '"enriched_transactions" GROUP BY 1 ORDER BY 1'
    )
    code, out, _ = invoke("query", sql, "--lakehouse", landed / "lh", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and [r["tx_type"] for r in rows] == ["Credit", "Debit"]
    assert sum(r["n"] for r in rows) == 2000
    code, out, _ = invoke("query", sql, "--lakehouse", landed / "lh", "--format", "csv")
    assert out.splitlines()[0] == '"tx_type","n"' and len(out.splitlines()) == 3
    code, out, _ = invoke("query", sql, "--lakehouse", landed / "lh")
    assert code == 0 and "Credit" in out


def test_verify_exit_code_is_1_when_a_test_fails(landed: Path) -> None:
    paths = ("--landing", landed / "landing", "--lakehouse", landed / "lh")
    assert invoke("run", *paths)[0] == 0
    extra = landed / "landing" / "transactions" / "transactions_2000-01-01.csv"
    extra.write_text(
        "tx_id,account_id,amount,tx_type,timestamp\nT1,ACC_000001,1.00,Debit,2000-01-01 00:00:00\n"
    )
    code, out, _ = invoke("verify", *paths, "--reports", landed / "r")
    assert code == 1
    assert "FAIL  Test 1" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--landing", "missing-folder"), "landing folder not found"),
        (("verify", "--lakehouse", "empty-lakehouse", "--landing", "x"), "no lakehouse here"),
        (("maintain", "--lakehouse", "empty-lakehouse"), "no lakehouse here"),
        (("query", "SELECT 1 FROM nope", "--format", "xml"), "--format must be table, csv or json"),
        (("run", "--engine", "warp"), "unknown engine 'warp'"),
        (("generate", "--days", "0"), "--days must be at least 1"),
        (("generate", "--days", "3661"), "--days must be at most 3660"),
        (("generate", "--customers", "0"), "--customers must be at least 1"),
        (("generate", "--accounts", "-5"), "--accounts must be at least 1"),
        (("generate", "--transactions", "-1"), "--transactions must not be negative"),
        (("query", "COPY (SELECT 1) TO 'x.csv'"), "COPY statements are refused"),
    ],
)
def test_user_errors_exit_2_with_a_message_on_stderr(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    if args[0] in ("run", "query"):
        invoke(
            "generate", "--transactions", "10", "--customers", "2", "--accounts", "2", "--days", "1"
        )
        if args[0] == "query":
            assert invoke("run")[0] == 0
    code, out, err = invoke(*args)
    assert code == 2
    assert message in err.replace("\n", " ")
    assert out == ""
    assert not (tmp_path / "x.csv").exists()


def test_version() -> None:
    code, out, _ = invoke("--version")
    assert (code, out) == (0, f"banklake {__version__}\n")


def test_a_broken_settings_file_is_named_with_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "banklake.toml").write_text('landing = "here"\nlakehouse = \n')
    code, _, err = invoke("generate", "--transactions", "10")
    assert code == 2
    assert err == "error: banklake.toml is not valid TOML: Invalid value (at line 2, column 13)\n"
    monkeypatch.setenv("BANKLAKE_CONFIG", str(tmp_path / "missing.toml"))
    code, _, err = invoke("generate", "--transactions", "10")
    assert code == 2 and err.count("\n") == 1
    assert f"BANKLAKE_CONFIG names {tmp_path / 'missing.toml'}, which does not exist" in err
    assert not (tmp_path / "landing").exists()


def test_generate_refuses_a_landing_zone_with_files_unless_replace(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "notes.txt").write_text("mine\n")
    tiny = ("generate", "--transactions", "20", "--customers", "3", "--accounts", "3",
            "--days", "2", "--landing", landing)  # fmt: skip
    code, out, err = invoke(*tiny)
    assert code == 2 and out == ""
    assert f"{landing} already holds files; pass --replace" in err
    assert sorted(p.name for p in landing.iterdir()) == ["notes.txt"]

    assert invoke(*tiny, "--replace", "--defect-rate", "0.1")[0] == 0
    assert (landing / "defects_manifest.json").exists()
    stale = landing / "transactions" / "transactions_1999-01-01.csv"
    stale.write_text("tx_id\n")  # in a folder generate writes: replaced with it
    code, out, _ = invoke(*tiny, "--replace", "--json")
    assert code == 0
    files = {Path(f).relative_to(landing).as_posix() for f in json.loads(out)["files"]}
    written = {p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file()}
    assert written == files | {"notes.txt"}  # no stale day, no old manifest; notes.txt kept
    assert (landing / "notes.txt").read_text() == "mine\n"


def test_settings_come_from_file_then_environment_then_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = (
        "generate",
        "--transactions",
        "10",
        "--customers",
        "2",
        "--accounts",
        "2",
        "--days",
        "1",
    )

    def landing_used(*extra: str) -> str:
        code, out, err = invoke(*tiny, "--json", *extra)
        assert code == 0, err
        return str(json.loads(out)["landing"])

    (tmp_path / "banklake.toml").write_text('landing = "from-file"\n')
    assert landing_used() == "from-file"
    monkeypatch.setenv("BANKLAKE_LANDING", "from-env")
    assert landing_used() == "from-env"
    assert landing_used("--landing", "from-flag") == "from-flag"


def test_demo_end_to_end_and_refuses_foreign_folders(tmp_path: Path) -> None:
    code, out, err = invoke("demo", "--transactions", "5000", "--days", "5")
    assert code == 0, err
    for text in ("pass  Test 1", "pass  Test 2", "pass  Test 3", "reports/verification.md"):
        assert text in out
    assert (
        invoke("demo", "--transactions", "5000", "--days", "5")[0] == 0
    )  # replaces its own output
    (tmp_path / "mine").mkdir()
    code, _, err = invoke("demo", "--landing", tmp_path / "mine")
    assert code == 2 and "was not made by `banklake demo`" in err.replace("\n", " ")


def test_quarantine_list_filters(landed: Path) -> None:
    bad = landed / "landing" / "transactions" / "transactions_2000-01-01.csv"
    bad.write_text(
        "tx_id,account_id,amount,tx_type,timestamp\n"
        "TX_9900000001,ACC_000001,abc,Debit,2000-01-01 00:00:00\n"
        "TX_9900000002,ACC_000001,1.00,Nope,2000-01-01 00:00:00\n"
        "TX_9900000003,ACC_000001\n"
    )
    paths = ("--landing", landed / "landing", "--lakehouse", landed / "lh")
    assert invoke("run", *paths)[0] == 0
    code, out, _ = invoke("quarantine", "list", *paths, "--json")
    listed = json.loads(out)
    assert code == 0 and listed["total"] == 3
    assert [r["line_number"] for r in listed["rows"]] == [2, 3, 4]
    code, out, _ = invoke("quarantine", "list", *paths, "--rule", "tx_type_valid", "--json")
    assert [r["line_number"] for r in json.loads(out)["rows"]] == [3]
    code, out, _ = invoke("quarantine", "list", *paths, "--file", "2000-01-01", "--limit", "1")
    assert code == 0 and "3 quarantined rows" in out and "showing 1 of 3" in out
    code, out, _ = invoke("quarantine", "list", *paths, "--entity", "customers", "--json")
    assert json.loads(out) == {"total": 0, "rows": []}
    code, out, _ = invoke("quarantine", "list", *paths, "--file", "x' OR '1'='1", "--json")
    assert json.loads(out)["total"] == 0  # filters are literals, never SQL

    code, out, err = invoke("quarantine", "list", *paths, "--rule", "tx_type_vaild")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--rule 'tx_type_vaild' is not one of: " in err
    assert "tx_type_valid" in err and "row_malformed" in err
    code, out, err = invoke("quarantine", "list", *paths, "--entity", "transaction")
    assert code == 2 and out == ""
    assert "--entity 'transaction' is not one of: customers, accounts, transactions" in err


def test_quarantine_table_keeps_each_file_and_line_whole_at_80_columns(landed: Path) -> None:
    paths = ("--landing", landed / "landing", "--lakehouse", landed / "lh")
    bad = landed / "landing" / "transactions" / "transactions_2000-01-01.csv"
    bad.write_text(
        "tx_id,account_id,amount,tx_type,timestamp\n"
        "TX_9900000001,ACC_000001,abc,Debit,2000-01-01 00:00:00\n"
        "TX_9900000002,ACC_000001\n"
    )
    assert invoke("run", *paths)[0] == 0
    listed = json.loads(invoke("quarantine", "list", *paths, "--json")[1])
    screen = Console(width=80, record=True, file=io.StringIO())
    screen.print(_quarantine_table(listed["rows"], listed["total"]))
    lines = screen.export_text().splitlines()
    assert max(map(len, lines)) <= 80
    for row in listed["rows"]:
        place = f"{row['source_file']}:{row['line_number']}"
        assert any(place in line for line in lines), place


def test_rejected_file_exits_3_and_a_late_account_resolves(landed: Path) -> None:
    paths = ("--landing", landed / "landing", "--lakehouse", landed / "lh")
    transactions = landed / "landing" / "transactions"
    (transactions / "transactions_2000-01-01.csv").write_bytes(b"tx_id,amount\n1,2\n")
    (transactions / "transactions_2000-01-02.csv").write_text(
        "tx_id,account_id,amount,tx_type,timestamp\n"
        "TX_9900000001,ACC_777777,1.00,Debit,2000-01-02 00:00:00\n"
    )
    code, out, err = invoke("run", *paths)
    assert code == 3
    assert "rejected:" in err and "transactions_2000-01-01.csv" in err and "wrong header" in err
    assert "quarantined 1" in out
    code, out, _ = invoke("run", *paths, "--json")
    assert code == 0 and json.loads(out)["files"] == []  # nothing new: the refusal is recorded

    accounts = next((landed / "landing" / "accounts").iterdir())
    accounts.write_text(accounts.read_text() + "ACC_777777,CUST_000001,Savings,1.00\n")
    code, out, _ = invoke("run", *paths, "--json")
    replayed = json.loads(out)  # the late account's transaction is checked again and loads
    assert code == 0
    assert ("transactions/transactions_2000-01-02.csv", "reprocessed", 1) in [
        (f["source_file"], f["status"], f["rows_loaded"]) for f in replayed["files"]
    ]
    assert json.loads(invoke("quarantine", "replay", *paths, "--json")[1])["files"] == []
    code, out, _ = invoke("quarantine", "list", *paths, "--unresolved", "--json")
    assert json.loads(out)["total"] == 0
    code, out, _ = invoke("quarantine", "list", *paths, "--json")
    assert [r["resolved_batch_id"] for r in json.loads(out)["rows"]] == [replayed["batch_id"]]


def test_messages_are_never_wrapped_when_not_at_a_terminal(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 8, "landing")
    code, _, err = invoke("run", "--landing", deep, "--lakehouse", tmp_path / "lh")
    assert code == 2
    assert err.count("\n") == 1 and f"{deep}: landing folder not found" in err


def test_withdraw_retracts_a_vanished_file_and_verify_passes_again(landed: Path) -> None:
    paths = ("--landing", landed / "landing", "--lakehouse", landed / "lh")
    assert invoke("run", *paths)[0] == 0
    day = sorted((landed / "landing" / "transactions").iterdir())[0]
    name = f"transactions/{day.name}"
    day.rename(landed / day.name)  # archived away, as SFTP clean-ups do
    code, out, _ = invoke("verify", *paths, "--reports", landed / "r")
    assert code == 1 and f"{name} was loaded but is no longer in the landing zone" in out
    assert f"banklake withdraw {name}" in out
    code, _, err = invoke("withdraw", name, *paths)
    assert code == 0, err
    assert invoke("verify", *paths, "--reports", landed / "r")[0] == 0
    code, _, err = invoke("withdraw", "transactions/nope.csv", *paths)
    assert code == 2 and "not a loaded file" in err
