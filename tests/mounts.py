"""Real storage faults for tests: a folder mounted read-only, or on a tiny file system that fills.

Mounts are made in a private mount namespace (``unshare --mount``), so they exist only for the
command run inside it and vanish with it; this needs root. Tests skip where it is not possible.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]


@cache
def private_mounts_work() -> bool:
    """Whether this process may mount in a private mount namespace (a read-only bind mount)."""
    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as folder:
        probe = f"mount --bind -o ro {folder} {folder} && ! touch {folder}/probe 2>/dev/null"
        try:
            done = subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", probe],
                capture_output=True,
                timeout=30,
            )
        except OSError:
            return False
        return done.returncode == 0 and not Path(folder, "probe").exists()


def with_mount(
    mount: str, *command: str | Path, cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python COMMAND`` after the shell command ``mount``, both in one private mount
    namespace; skip the test where mounting is not possible."""
    if not private_mounts_work():
        pytest.skip("needs root and unshare, to mount a folder for one command")
    argv = [sys.executable, *(str(part) for part in command)]
    script = f"{mount} && exec {shlex.join(argv)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKLAKE_")}
    # The test helpers a command inside may import, as pytest's own ``pythonpath`` gives them.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), env.get("PYTHONPATH")]))
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


def read_only(folder: Path) -> str:
    """The mount command that makes ``folder`` a read-only view of itself."""
    here = shlex.quote(str(folder))
    return f"mount --bind -o ro {here} {here}"


def tiny_disk(folder: Path, size: str) -> str:
    """The mount command that puts an empty file system of ``size`` (say ``512k``) at ``folder``."""
    return f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(folder))}"
