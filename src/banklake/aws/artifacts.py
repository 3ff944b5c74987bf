"""What the Glue job runs, and the data it reads, put into the landing bucket.

- ``glue/banklake_job.py``: the job's script (``infra/glue``);
- ``glue/dist/<wheel>``: banklake itself, which Glue installs with pip before the script runs;
- ``landing/<entity>/<file>``: the Bronze files, uploaded when new or changed.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from banklake import __version__
from banklake.aws.session import AwsTarget, aws_errors
from banklake.aws.stack import StackOutputs, infra_file
from banklake.bronze.inventory import inventory
from banklake.errors import AwsError, UsageError

SCRIPT_KEY = "glue/banklake_job.py"
LANDING_PREFIX = "landing/"
WHEEL_NAME = f"banklake-{__version__}-py3-none-any.whl"
WHEEL_KEY = f"glue/dist/{WHEEL_NAME}"
_PART = 8 * 1024 * 1024  # boto3's default multipart threshold and part size, made explicit
_PROJECT = Path(__file__).resolve().parents[3]


def build_wheel(folder: Path) -> Path:
    """banklake's wheel, built from this source tree with pip."""
    if not (_PROJECT / "pyproject.toml").is_file():
        raise UsageError(
            "banklake is not installed from its source tree here, so it cannot build its wheel; "
            "pass --wheel with the path of a banklake wheel"
        )
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(folder)]
    built = subprocess.run([*command, str(_PROJECT)], capture_output=True, text=True)
    wheel = folder / WHEEL_NAME
    if built.returncode != 0 or not wheel.is_file():
        raise AwsError(f"building banklake's wheel failed:\n{built.stderr.strip()}")
    return wheel


def upload_job_files(target: AwsTarget, bucket: str, wheel: Path | None) -> list[str]:
    """Upload the job's script and banklake's wheel; the ``s3://`` locations written."""
    s3 = target.client("s3")
    with tempfile.TemporaryDirectory(prefix="banklake-wheel-") as folder:
        wheel = wheel or build_wheel(Path(folder))
        if wheel.name != WHEEL_NAME:
            raise UsageError(
                f"--wheel {wheel.name} is not banklake {__version__}'s wheel ({WHEEL_NAME}), "
                "which the stack's Glue job installs"
            )
        uploads = {SCRIPT_KEY: infra_file("glue/banklake_job.py"), WHEEL_KEY: wheel}
        for key, path in uploads.items():
            with aws_errors(f"uploading {path.name} to s3://{bucket}/{key}"):
                s3.upload_file(str(path), bucket, key)
    return [f"s3://{bucket}/{key}" for key in uploads]


@dataclass
class Upload:
    uploaded: list[str]
    unchanged: int


def upload_landing(
    target: AwsTarget,
    stack: StackOutputs,
    landing: Path,
    on_file: Callable[[str], None] = lambda _key: None,
) -> Upload:
    """Upload the landing zone's files as the pipeline sees them (``banklake.bronze.inventory``):
    those to load and those it refuses, so the job records the refusals too; ignored files
    (notes, in-flight uploads) stay. Files already there with the same bytes stay."""
    found = inventory(landing)
    files = sorted([c.path for c in found.candidates] + [r.path for r in found.refused])
    if not files:
        raise UsageError(
            f"{landing} has no customers, accounts or transactions files to upload; "
            "create them with `banklake generate` or pass --landing"
        )
    s3 = target.client("s3")
    present = _etags(target, stack.landing_bucket)
    result = Upload([], 0)
    for path in files:
        key = LANDING_PREFIX + path.relative_to(landing).as_posix()
        if present.get(key) == _etag(path):
            result.unchanged += 1
            continue
        with aws_errors(f"uploading {path} to s3://{stack.landing_bucket}/{key}"):
            s3.upload_file(str(path), stack.landing_bucket, key, Config=_transfer_config())
        result.uploaded.append(key)
        on_file(key)
    return result


def _transfer_config() -> object:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=_PART, multipart_chunksize=_PART)


def _etags(target: AwsTarget, bucket: str) -> dict[str, str]:
    """Key -> ETag of the landing objects (an MD5 of the bytes for single-part uploads)."""
    pages = target.client("s3").get_paginator("list_objects_v2")
    found = {}
    with aws_errors(f"listing s3://{bucket}/{LANDING_PREFIX}"):
        for page in pages.paginate(Bucket=bucket, Prefix=LANDING_PREFIX):
            for item in page.get("Contents", []):
                found[item["Key"]] = item["ETag"].strip('"')
    return found


def _etag(path: Path) -> str:
    """The ETag S3 gives the file uploaded with ``_PART``-sized parts: the MD5 of its bytes,
    or for a multipart upload the MD5 of the parts' MD5s and the number of parts."""
    parts = []
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(_PART), b""):
            parts.append(hashlib.md5(block, usedforsecurity=False).digest())
    if path.stat().st_size < _PART:  # boto3 uploads files from the threshold up in parts
        return (parts[0] if parts else hashlib.md5(usedforsecurity=False).digest()).hex()
    joined = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
    return f"{joined}-{len(parts)}"
