"""Which loaded files a batch decides again (``banklake.scope.decided_again``), as properties
of the ledger alone: the answer is closed under every dependency the rules have."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from banklake.lakehouse.ledger import FileOutcome
from banklake.scope import Footprint, decided_again

DAY = date(2026, 1, 1)
days = st.integers(0, 9).map(lambda n: DAY + timedelta(days=n))
keys = st.integers(0, 99).map(lambda n: f"TX_{n:03d}")


@st.composite
def record(draw: st.DrawFn, name: str) -> FileOutcome:
    entity = draw(st.sampled_from(["customers", "accounts", "transactions"]))
    outcome = FileOutcome("b", entity, name, "c", 1, 1, None, "loaded")
    if entity == "transactions":
        low, high = sorted(draw(st.lists(keys, min_size=2, max_size=2)))
        outcome.key_min, outcome.key_max = low, high
        outcome.date_max = draw(days)
    else:
        outcome.business_date = draw(days)
    return outcome


@st.composite
def ledger(draw: st.DrawFn) -> dict[str, FileOutcome]:
    count = draw(st.integers(0, 12))
    return {f"f{i}": draw(record(f"f{i}")) for i in range(count)}


@given(held=ledger(), new=st.lists(record("new"), max_size=3))
def test_what_is_decided_again_is_closed_under_every_dependency(
    held: dict[str, FileOutcome], new: list[FileOutcome]
) -> None:
    changed = [Footprint.of(r) for r in new]
    decided = decided_again(held, changed)
    again = {n: Footprint.of(held[n]) for n in decided.again}
    outside = [Footprint.of(r) for n, r in held.items() if n not in decided.again]
    inside = [*again.values(), *changed]
    for other in outside:
        # No file left alone shares a key with one decided, or a snapshot date with a change.
        assert not any(other.shares_keys_with(f) for f in inside if f.entity == "transactions")
        assert not any(
            f.entity == other.entity and f.snapshot == other.snapshot
            for f in changed
            if f.snapshot is not None
        )
        # ... nor looks up a history from the date it changes on.
        if decided.since is not None and other.entity == "transactions":
            assert other.date_max is None or other.date_max < decided.since
    if not any(f.entity in ("customers", "accounts") for f in changed):
        assert decided.since is None


def test_a_new_snapshot_after_all_others_changes_history_from_its_date() -> None:
    held = {
        "c1": FileOutcome("b", "customers", "c1", "x", 1, 1, DAY, "loaded"),
        "t1": FileOutcome("b", "transactions", "t1", "x", 1, 1, None, "loaded"),
        "t2": FileOutcome("b", "transactions", "t2", "x", 1, 1, None, "loaded"),
    }
    held["t1"].date_max, held["t2"].date_max = DAY, DAY + timedelta(days=3)
    later = DAY + timedelta(days=2)
    decided = decided_again(held, [Footprint("c2", "customers", later)])
    assert decided == type(decided)(frozenset({"t2"}), later)
    earliest = decided_again(held, [Footprint("c0", "customers", DAY - timedelta(days=1))])
    # Before every snapshot on record: the whole history is read again, from its files.
    assert earliest.since == date.min and earliest.again == {"c1", "t1", "t2"}
