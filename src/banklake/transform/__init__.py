"""The transform: one SQL definition of the ETL, compiled for each engine."""

from banklake.transform.plan import Step, plan
from banklake.transform.sql import compile_sql, sql_literal

__all__ = ["Step", "compile_sql", "plan", "sql_literal"]
