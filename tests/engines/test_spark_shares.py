"""How the Spark engine shares a batch's files out to its read tasks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from banklake.engines.spark import _shares


@given(st.lists(st.integers(0, 10**9), max_size=60), st.integers(1, 16))
def test_every_file_is_read_once_and_the_shares_are_near_equal(
    sizes: list[int], tasks: int
) -> None:
    shares = _shares(sizes, tasks)
    assert len(shares) == tasks
    assert sorted(n for share in shares for n in share) == list(range(len(sizes)))
    loads = [sum(sizes[n] for n in share) for share in shares]
    # Largest first, each to the lightest share: no share exceeds another by more than a file.
    assert max(loads) - min(loads) <= max(sizes, default=0)
