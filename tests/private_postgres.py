"""A PostgreSQL server of one test's own, for drills that stop and start it: the
shared one (scripts/services, :5433) is never restarted. initdb into a folder the
postgres user can reach, a free port, pg_ctl start and stop -m fast (as the
postgres user when the tests run as root: PostgreSQL refuses to run as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port


def _bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                   if p.parent.name.isdigit() else 0)
    if not found:
        pytest.fail("PostgreSQL is not installed: run scripts/services up", pytrace=False)
    return found[-1]


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class Server:
    data: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), *args]), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)

    def start(self) -> None:
        self._ctl("-l", str(self.data / "server.log"), "-w", "-t", "30",
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")


@contextmanager
def server() -> Iterator[Server]:
    """Started; stopped and deleted afterwards."""
    binaries = _bin()
    # Not under pytest's tmp_path: that folder is private to the user running the tests.
    folder = Path(tempfile.mkdtemp(prefix="incidentbot-pg-", dir="/var/tmp"))
    os.chmod(folder, 0o755)
    data = folder / "data"
    data.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(_as_postgres([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                 "-E", "UTF8"]), check=True, stdout=subprocess.DEVNULL, timeout=120)
    found = Server(data=data, port=free_port(), bin=binaries)
    found.start()
    try:
        yield found
    finally:
        try:
            found.stop()
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(folder, ignore_errors=True)
