"""The pipeline's floor: DuckDB reads the same CSVs, joins them and writes Parquet.

No validation, no quarantine, no Silver tables, no Iceberg: the least any pipeline must do.
Usage: python floor.py LANDING OUT_DIR [CODEC]
"""

import sys

import duckdb

landing, out = sys.argv[1], sys.argv[2]
codec = sys.argv[3] if len(sys.argv) > 3 else "snappy"  # DuckDB's default
duckdb.sql(
    f"""
    COPY (
      SELECT t.tx_id, t.account_id, a.customer_id, CAST(t.amount AS DECIMAL(18,2)) AS amount,
        t.tx_type, CAST(t."timestamp" AS TIMESTAMPTZ) AS tx_timestamp,
        CAST(CAST(t."timestamp" AS TIMESTAMP) AS DATE) AS tx_date, a.account_type,
        CAST(a.balance AS DECIMAL(18,2)) AS balance, c.name, c.email, c.country
      FROM read_csv('{landing}/transactions/*.csv') t
      JOIN read_csv('{landing}/accounts/*.csv') a ON t.account_id = a.account_id
      JOIN read_csv('{landing}/customers/*.csv') c ON a.customer_id = c.customer_id
    ) TO '{out}' (FORMAT parquet, COMPRESSION {codec}, PER_THREAD_OUTPUT true, OVERWRITE true)
    """
)
