"""The lakehouse: Iceberg catalog and tables, atomic commits, and table maintenance."""
