"""The batch's Bronze as Parquet files, one per landed file and relation, in a scratch folder.

Every engine reads Bronze this way: the PyArrow reader (``banklake.bronze.reader``) parses a
landed file a block at a time and its rows and malformed lines are written as they come, so
memory holds a few blocks, not the batch. The embedded engine writes files on threads of its
own process; the Spark engine in a task per file on its executors, into a folder the whole
cluster sees. Either way a file's line numbers, raw lines and refusal are the same.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from banklake.bronze.landing import LandedFile, RejectedFile
from banklake.bronze.reader import (
    LINE_NUMBER,
    MALFORMED_SCHEMA,
    SOURCE_FILE,
    FileStream,
    bronze_schema,
)
from banklake.contracts import ENTITIES
from banklake.engines.base import FileCount
from banklake.errors import LandingError

MALFORMED = "malformed"
SCHEMAS = {entity.name: bronze_schema(entity) for entity in ENTITIES} | {
    MALFORMED: MALFORMED_SCHEMA
}
# Fast to write and read back, and the file name stored once per block.
PARQUET: dict[str, Any] = {
    "compression": "lz4",
    "use_dictionary": [SOURCE_FILE],
    "write_statistics": False,
}


@dataclass(frozen=True)
class Written:
    """What became of one landed file: its count or refusal, and the Parquet files written
    (path → rows; none for a refused file)."""

    load: FileCount | RejectedFile
    files: dict[str, int] = field(default_factory=dict)


def prepare(folder: Path) -> None:
    """Make the folder of each relation under ``folder``."""
    for name in SCHEMAS:
        (folder / name).mkdir(parents=True, exist_ok=True)


def write_file(file: LandedFile, folder: Path) -> Written:
    """Write the file's rows under ``folder`` (``prepare``d); a file unreadable part way
    leaves none of its rows."""
    stream = FileStream(file)
    name = f"{uuid.uuid4()}.parquet"
    rows, malformed = folder / file.entity.name / name, folder / MALFORMED / name
    written = {rows: 0, malformed: 0}
    try:
        with (
            pq.ParquetWriter(rows, SCHEMAS[file.entity.name], **PARQUET) as good,
            pq.ParquetWriter(malformed, MALFORMED_SCHEMA, **PARQUET) as bad,
        ):
            for part in stream:
                good.write_table(part.rows)
                bad.write_table(part.malformed)
                written[rows] += part.rows.num_rows
                written[malformed] += part.malformed.num_rows
        blank = stream.blank_lines()
    except LandingError as error:
        rows.unlink(missing_ok=True)
        malformed.unlink(missing_ok=True)
        refused = RejectedFile(
            file.entity, file.path, file.business_date, str(error), landed_as=file.name
        )
        return Written(refused)
    if blank:
        _drop_lines(rows, blank)
        written[rows] -= len(blank)
    count = FileCount(file.entity.name, file.name, stream.rows - len(blank))
    return Written(count, {str(path): number for path, number in written.items()})


class BronzeFiles:
    """The Parquet files of a batch as they are written, from any thread, by relation."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._rows: dict[Path, int] = {}  # each file written, and its rows
        self._lock = threading.Lock()

    def add(self, written: Written) -> FileCount | RejectedFile:
        with self._lock:
            self._rows.update((Path(path), rows) for path, rows in written.files.items())
        return written.load

    def bytes(self) -> int:
        return sum(path.stat().st_size for path in self._rows)

    def relations(self) -> dict[str, list[Path]]:
        """Each relation's files, the one with most rows first (DuckDB estimates the rows of
        a list of Parquet files from its first, and plans its joins by that estimate); an
        empty relation gets an empty file with its columns."""
        relations = {}
        for name, schema in SCHEMAS.items():
            files = sorted(
                (path for path in self._rows if path.parent.name == name),
                key=lambda path: (-self._rows[path], path.name),
            )
            if not files:
                files = [self.folder / name / "empty.parquet"]
                pq.write_table(schema.empty_table(), files[0])
            relations[name] = files
        return relations


def _drop_lines(path: Path, lines: list[int]) -> None:
    """Rewrite a Bronze Parquet file without some of its lines, a row group at a time."""
    kept = path.with_suffix(".kept")
    drop = pa.array(lines, pa.int64())
    source = pq.ParquetFile(path)
    with pq.ParquetWriter(kept, source.schema_arrow, **PARQUET) as writer:
        for group in range(source.num_row_groups):
            rows = source.read_row_group(group)
            writer.write_table(rows.filter(pc.invert(pc.is_in(rows[LINE_NUMBER], drop))))
    kept.replace(path)
