"""The generator's hand-assembled CSV text: exact bytes for the edge values of each field."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from banklake.generate import generator as generator_module


def test_transaction_lines_are_exact() -> None:
    accounts = generator_module._id_bytes("ACC_", 3)
    cents = np.array([1, 99, 100, 999, 1_000, 25_000_000], dtype=np.int64)
    debit = np.array([True, False, True, False, True, False])
    seconds = np.array([0, 59, 3_600, 43_210, 86_398, 86_399])
    text = generator_module._transaction_text(
        date(2026, 2, 28),
        9_999_999_998,
        11,
        accounts.take([0, 1, 2, 0, 1, 2], axis=0),
        cents,
        debit,
        generator_module._times_of_day().take(seconds),
    )
    assert text.tobytes().decode() == (
        "TX_09999999998,ACC_000001,0.01,Debit,2026-02-28 00:00:00\n"
        "TX_09999999999,ACC_000002,0.99,Credit,2026-02-28 00:00:59\n"
        "TX_10000000000,ACC_000003,1.00,Debit,2026-02-28 01:00:00\n"
        "TX_10000000001,ACC_000001,9.99,Credit,2026-02-28 12:00:10\n"
        "TX_10000000002,ACC_000002,10.00,Debit,2026-02-28 23:59:58\n"
        "TX_10000000003,ACC_000003,250000.00,Credit,2026-02-28 23:59:59\n"
    )


def test_times_of_day_cover_every_second() -> None:
    words = generator_module._times_of_day()
    text = words.view(np.uint8).tobytes().decode()
    expected = "".join(
        f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
    )
    assert text == expected


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 8, 9, 12])
def test_digits_are_zero_padded(width: int) -> None:
    values = np.array([0, 7, 10**width - 1, 1234567 % 10**width], dtype=np.int64)
    matrix = generator_module._digits(values, width)
    assert [bytes(row).decode() for row in matrix] == [f"{v:0{width}d}" for v in values]


def test_a_chunk_reads_back_as_its_values() -> None:
    """Defects edit a chunk as a table of strings: it must hold exactly the text's values."""
    spec = generator_module.GeneratorSpec(customers=5, accounts=5, transactions=2_000)
    accounts = generator_module._id_bytes("ACC_", 5)
    (chunk,) = generator_module._transaction_chunks(
        spec, 0, date(2026, 1, 5), 2_000, 1, accounts, np.full(5, 0.2)
    )
    table = chunk.table()
    text = b"".join(part.tobytes() for part in chunk.text).decode()
    assert table.num_rows == chunk.num_rows == 2_000
    assert [",".join(row.values()) for row in table.to_pylist()] == text.splitlines()


def test_hours_are_those_choice_draws() -> None:
    """The table lookup picks the hour ``rng.choice`` picks from the same draws (bounds too)."""
    weights = np.array(generator_module.HOUR_WEIGHTS) / sum(generator_module.HOUR_WEIGHTS)
    chosen = np.random.default_rng(7).choice(24, 200_000, p=weights)
    assert np.array_equal(generator_module._hours(np.random.default_rng(7).random(200_000)), chosen)
    bounds = generator_module._HOUR_CDF[:-1]
    edges = np.concatenate([bounds, np.nextafter(bounds, 0), [0.0, np.nextafter(1.0, 0)]])
    expected = np.searchsorted(generator_module._HOUR_CDF, edges, "right")
    assert np.array_equal(generator_module._hours(edges), expected)
