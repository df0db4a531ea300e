"""A real Prometheus Alertmanager per test (Debian's `prometheus-alertmanager`,
installed by scripts/services): its own config, storage and port, clustering off,
fast group timings, webhook receivers pointing at the bot's `/alerts/alertmanager`
with the bearer token. Alerts go in through Alertmanager's API v2, as Prometheus
sends them; what reaches the bot is whatever Alertmanager makes of them (grouping,
retries of refused deliveries, resolved notifications)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import TOKEN, free_port


def binary() -> str:
    """Debian names it prometheus-alertmanager; upstream's tarball, alertmanager."""
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None:
        pytest.fail("Alertmanager is not installed: run scripts/services up (it installs prometheus-alertmanager)",
                    pytrace=False)
    return found


def _stamp(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def alert(labels: dict[str, str], summary: str = "", *, resolved: bool = False) -> dict[str, Any]:
    """One alert as Prometheus posts it: firing for the next hour, or ended a moment ago."""
    now = datetime.now(timezone.utc)
    return {"labels": labels, "annotations": {"summary": summary} if summary else {},
            "startsAt": _stamp(now - timedelta(minutes=5)),
            "endsAt": _stamp(now - timedelta(seconds=1) if resolved else now + timedelta(hours=1)),
            "generatorURL": "http://prometheus.test/graph"}


def config(webhooks: Sequence[str], token: str = TOKEN, group_by: Sequence[str] = ("alertname", "consumergroup"),
           group_wait: str = "100ms", group_interval: str = "1s", repeat_interval: str = "1h") -> dict[str, Any]:
    """One route to one receiver with a webhook per URL (each is notified of every group)."""
    return {
        "route": {"receiver": "incidentbot", "group_by": list(group_by), "group_wait": group_wait,
                  "group_interval": group_interval, "repeat_interval": repeat_interval},
        "receivers": [{"name": "incidentbot", "webhook_configs": [
            {"url": url, "send_resolved": True,
             "http_config": {"authorization": {"type": "Bearer", "credentials": token}}}
            for url in webhooks]}],
    }


@dataclass
class Alertmanager:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def post(self, alerts: list[dict[str, Any]]) -> None:
        """POST /api/v2/alerts, as Prometheus does."""
        answer = requests.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10)
        assert answer.status_code == 200, (answer.status_code, answer.text)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a counter's series whose labels include `labels`, from /metrics."""
        total = 0.0
        for line in requests.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            series, value = line.rsplit(" ", 1)
            if all(f'{k}="{v}"' in series for k, v in labels.items()):
                total += float(value)
        return total

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running(tmp_path: Path, webhooks: Sequence[str], **settings: Any) -> Iterator[Alertmanager]:
    """An Alertmanager of this test's own, stopped (and its storage dropped with
    tmp_path) afterwards. `settings` go to config()."""
    folder = tmp_path / f"alertmanager-{time.time_ns()}"
    (folder / "data").mkdir(parents=True)
    # YAML is a superset of JSON: the config needs no YAML writer.
    (folder / "alertmanager.yml").write_text(json.dumps(config(webhooks, **settings)))
    port = free_port()
    log = folder / "alertmanager.log"
    process = subprocess.Popen(
        [binary(), f"--config.file={folder / 'alertmanager.yml'}", f"--storage.path={folder / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=debug"],
        stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    manager = Alertmanager(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        deadline = time.time() + 20
        while True:
            assert process.poll() is None, f"Alertmanager exited ({process.returncode}): {manager.log_text()[-2000:]}"
            try:
                if requests.get(f"{manager.url}/-/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline, f"Alertmanager not ready: {manager.log_text()[-2000:]}"
            time.sleep(0.1)
        yield manager
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
