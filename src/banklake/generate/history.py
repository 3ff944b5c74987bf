"""How customers and accounts change from day to day, for daily dimension snapshots.

Over the generated days some customers move country, some accounts change type, open late or
close, and balances move. Everything is drawn up front from one random stream, so the state on
any day is a cheap function of the day: a snapshot needs no earlier one, and no transaction is
generated on an account that is not open that day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# Shares over the whole period.
MOVING_CUSTOMERS = 0.02
LATE_OPENING_ACCOUNTS = 0.05
CLOSING_ACCOUNTS = 0.03
RETYPED_ACCOUNTS = 0.02
# Share of accounts whose balance moves on a given day.
BALANCE_MOVES_PER_DAY = 0.1
Money = Callable[[np.ndarray], pa.Array]  # integer cents -> "12.30"-style text


@dataclass(frozen=True)
class Lifecycle:
    days: int
    opens: np.ndarray  # day index from which each account is open (0: from the start)
    closes: np.ndarray  # day index from which it is closed (``days``: never)
    moves: np.ndarray  # day index from which each customer lives in ``new_country``
    new_country: pa.Array
    retypes: np.ndarray  # day index from which the account has the other type
    balance_moves: np.ndarray  # (days, accounts): cents the balance has moved by that day

    def open_on(self, day: int) -> np.ndarray:
        return (self.opens <= day) & (day < self.closes)

    def customers_on(self, customers: pa.Table, day: int) -> pa.Table:
        import pyarrow.compute as pc  # only for daily snapshots: the default does without it

        moved = pa.array(self.moves <= day)
        country = pc.if_else(moved, self.new_country, customers["country"])
        return customers.set_column(customers.schema.get_field_index("country"), "country", country)

    def accounts_on(
        self, accounts: pa.Table, balance_cents: np.ndarray, day: int, money: Money
    ) -> pa.Table:
        """The accounts open on ``day``, with their type and balance that day."""
        import pyarrow.compute as pc  # only for daily snapshots: the default does without it

        retyped = pa.array(self.retypes <= day)
        other = pc.if_else(pc.equal(accounts["account_type"], "Savings"), "Current", "Savings")
        kind = pc.if_else(retyped, other, accounts["account_type"])
        balance = money(balance_cents + self.balance_moves[day])
        table = accounts.set_column(2, "account_type", kind).set_column(3, "balance", balance)
        return table.filter(pa.array(self.open_on(day)))


def lifecycle(
    rng: np.random.Generator, days: int, customers: int, accounts: int, countries: pa.Array
) -> Lifecycle:
    def some(count: int, share: float) -> np.ndarray:
        """A day in 1..days-1 for ``share`` of ``count`` things; ``days`` (never) for the rest."""
        when = np.full(count, days, np.int64)
        if days > 1:
            chosen = rng.random(count) < share
            when[chosen] = rng.integers(1, days, int(chosen.sum()))
        return when

    late = some(accounts, LATE_OPENING_ACCOUNTS)
    opens = np.where(late < days, late, 0)
    closes = some(accounts, CLOSING_ACCOUNTS)
    closes = np.where(closes <= opens, days, closes)  # an account closes after it opens
    steps = np.where(
        rng.random((days, accounts)) < BALANCE_MOVES_PER_DAY,
        np.round(rng.normal(0, 20_000, (days, accounts))).astype(np.int64),
        0,
    )
    return Lifecycle(
        days=days,
        opens=opens,
        closes=closes,
        moves=some(customers, MOVING_CUSTOMERS),
        new_country=countries.take(pa.array(rng.integers(0, len(countries), customers))),
        retypes=some(accounts, RETYPED_ACCOUNTS),
        balance_moves=np.cumsum(steps, axis=0),
    )
