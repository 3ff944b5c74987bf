"""The transform: one SQL definition of the ETL, compiled for each engine."""

from banklake.transform.plan import Step, compile_sql, plan

__all__ = ["Step", "compile_sql", "plan"]
