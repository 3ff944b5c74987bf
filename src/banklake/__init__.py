"""banklake: a banking analytics lakehouse on Apache Iceberg, embedded or on Spark and AWS."""

__version__ = "0.1.0"
