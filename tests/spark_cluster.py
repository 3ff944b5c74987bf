"""A Spark standalone cluster on loopback, from the PySpark package alone: a master and workers
whose executors cannot see the driver's temp folder, as on AWS Glue or any real cluster.

Each worker runs in its own mount namespace with an empty tmpfs mounted over the driver's temp
folder (``unshare --mount``, as root): whatever the driver writes there, an executor does not
find. Where the namespace cannot be made (not root, no ``unshare``), the workers share the
folder, and ``isolated`` says so.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

_STARTUP_S = 90


def spark_home() -> Path:
    """The PySpark package's folder, which holds Spark's launch scripts and jars."""
    import pyspark

    return Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def can_isolate() -> bool:
    """Whether workers can get a mount namespace of their own here."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True
    )
    return probe.returncode == 0


@dataclass
class LocalCluster:
    """``with LocalCluster(folder) as cluster:`` a master on ``cluster.master`` and workers.

    ``driver_tmp`` is the folder the driver must use as its temp (``TMPDIR``); the workers see
    an empty tmpfs there when ``isolated``. An application takes at most ``app_cores`` of each
    worker's ``cores``: with more cores than that, several drivers run at once.
    """

    folder: Path
    workers: int = 1
    cores: int = 2
    memory: str = "4g"
    app_cores: int = 2
    isolated: bool = field(default_factory=can_isolate)
    master: str = ""
    driver_tmp: Path = field(init=False)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.driver_tmp = self.folder / "driver-tmp"

    def __enter__(self) -> LocalCluster:
        self.driver_tmp.mkdir(parents=True, exist_ok=True)
        port, ui = _free_port(), _free_port()
        self.master = f"spark://127.0.0.1:{port}"
        master = ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
        self._start("master", [*master, "--port", str(port), "--webui-port", str(ui)])
        for number in range(self.workers):
            work = self.folder / f"worker-{number}"
            work.mkdir(exist_ok=True)
            arguments = ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1"]
            arguments += ["--cores", str(self.cores), "--memory", self.memory]
            arguments += ["--webui-port", str(_free_port()), "--work-dir", str(work), self.master]
            self._start(f"worker-{number}", arguments, hide=self.isolated)
        self._wait_for_workers(ui)
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self._processes):
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self._processes.clear()

    def _start(self, name: str, arguments: list[str], hide: bool = False) -> None:
        launcher = str(spark_home() / "bin" / "spark-class")
        command = [launcher, *arguments]
        if hide:
            hidden = f'mount -t tmpfs tmpfs {self.driver_tmp} && exec "$@"'
            command = ["unshare", "--mount", "--propagation", "private"]
            command += ["sh", "-c", hidden, "sh", launcher, *arguments]
        env = {
            **os.environ,
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(self.folder),
            "TMPDIR": str(self.folder / "cluster-tmp"),
        }
        (self.folder / "cluster-tmp").mkdir(exist_ok=True)
        with (self.folder / f"{name}.log").open("wb") as log:
            self._processes.append(
                subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            )

    def _wait_for_workers(self, ui: int) -> None:
        deadline = time.monotonic() + _STARTUP_S
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise RuntimeError(f"the cluster did not start: see {self.folder}/*.log")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5) as page:
                    state = page.read().decode()
                if state.count('"state" : "ALIVE"') >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(1)
        raise RuntimeError(f"the cluster's workers did not register: see {self.folder}/*.log")


def driver_environment(cluster: LocalCluster) -> dict[str, str]:
    """What a driver process needs to use ``cluster``: its temp folder, the master, and its
    share of the cores."""
    return {
        "TMPDIR": str(cluster.driver_tmp),
        "BANKLAKE_SPARK__MASTER": cluster.master,
        "BANKLAKE_SPARK__CONF": json.dumps({"spark.cores.max": str(cluster.app_cores)}),
    }


if __name__ == "__main__":  # start one by hand: python -m tests.spark_cluster
    with LocalCluster(Path(tempfile.mkdtemp(prefix="banklake-cluster-"))) as running:
        print(f"{running.master}, isolated: {running.isolated}, TMPDIR={running.driver_tmp}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
