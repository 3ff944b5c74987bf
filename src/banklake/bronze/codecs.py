"""Compressed landing files: the codec a file's name says, and its content read decompressed.

A file's compression is told by its last extension, in any case: ``.gz``/``.gzip``, ``.bz2``,
``.zst``/``.zstd`` and ``.lz4`` (LZ4 frames), all read through PyArrow's compressed input
streams, which the CSV reader reads as well. Every read of a file's content (the header probe,
the rows, the text of a failed line) goes through ``open_content``; the checksum stays over the
bytes on disk. A stream that cannot be decompressed (not that codec, truncated) is a
``LandingError`` naming the file, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

import pyarrow as pa

from banklake.errors import LandingError

# Extension -> Arrow codec. Arrow's "lz4" is the LZ4 frame format, as the `lz4` tool writes.
COMPRESSIONS = {
    ".gz": "gzip",
    ".gzip": "gzip",
    ".bz2": "bz2",
    ".zst": "zstd",
    ".zstd": "zstd",
    ".lz4": "lz4",
}
READABLE = ".csv, .csv.gz, .csv.bz2, .csv.zst or .csv.lz4"
# Compressions and archives Arrow's streams cannot read, named so the refusal can say so.
UNREADABLE = {
    ".xz": "xz",
    ".lzma": "lzma",
    ".z": "compress (.Z)",
    ".br": "brotli",
    ".snappy": "snappy",
    ".sz": "snappy",
    ".lzo": "lzo",
    ".zip": "a zip archive",
    ".7z": "a 7-Zip archive",
    ".rar": "a RAR archive",
    ".tar": "a tar archive",
    ".tgz": "a tar archive",
}


def compression_of(path: PurePath) -> str | None:
    """The Arrow codec a file's name says (``None``: not compressed, or not a codec we read)."""
    return COMPRESSIONS.get(path.suffix.lower())


def unreadable_compression(path: PurePath) -> str | None:
    """What the name says the file is compressed as, when it is nothing Arrow can read."""
    return UNREADABLE.get(path.suffix.lower())


def missing_codec(codec: str) -> bool:
    """The codec is one we read, but this PyArrow build was made without it."""
    return not pa.Codec.is_available(codec)


@contextmanager
def open_content(path: Path) -> Iterator[pa.NativeFile]:
    """The file's content as a stream, decompressed as its name says.

    A stream that cannot be decompressed, or a file that cannot be read, raises
    ``LandingError`` while the stream is open or read.
    """
    codec = compression_of(path)
    try:
        # compression=None, not Arrow's "detect": detection is by lower-case name only.
        with pa.input_stream(str(path), compression=codec) as stream:
            yield stream
    except OSError as error:
        raise unreadable(path, error) from None


def read_content(path: Path, limit: int | None = None) -> bytes:
    """The file's content decompressed: all of it, or its first ``limit`` bytes."""
    with open_content(path) as stream:
        data: bytes = stream.read() if limit is None else stream.read(limit)
        return data


def decompressed(name: PurePath, data: bytes) -> bytes:
    """A file's bytes (say, an object read from S3) decompressed as its name says."""
    codec = compression_of(name)
    if codec is None:
        return data
    with pa.input_stream(pa.BufferReader(data), compression=codec) as stream:
        content: bytes = stream.read()
        return content


def unreadable(path: Path, error: OSError) -> LandingError:
    """The one-line reason a file's content could not be read (Arrow raises ``OSError``)."""
    codec = compression_of(path)
    if codec is None or isinstance(error, FileNotFoundError | PermissionError):
        return LandingError(path, f"cannot be read ({error}); check the file and run again")
    return LandingError(
        path,
        f"cannot be decompressed as {codec} ({error}): the file is damaged or is not what its "
        f"extension {path.suffix} says; deliver it again",
    )
