"""What a process and its children use, read from /proc: the bot measured by a
bench is `incidentbot serve` with the processes it starts (the HTTP front, the
timer process)."""

from __future__ import annotations

import os
from pathlib import Path


def family(pid: int) -> set[int]:
    """The process and its children (the HTTP front, the timer process)."""
    members = {pid}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                members.add(int(entry.name))
    return members


def cpu_s(pid: int) -> float:
    """CPU time (user + system) the process and its children have used so far."""
    total = 0
    for member in family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of the process and its children."""
    total = 0
    for member in family(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024
