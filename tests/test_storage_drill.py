"""The database cannot take writes: its SQLite file lives on a small tmpfs of the
test's own, which is filled to the last byte. (A read-only database is
tests/test_readonly_drill.py.) New work is
refused with a clear reason (an alert: 503 and the reason, Alertmanager retries; a
command: said in Slack, nothing done), /readyz answers 503 naming the database, and
when the storage is back the next alert is stored and /readyz is ready again.
Needs root (mount); skipped otherwise."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.app.localbot import LocalBot
from bot.localslack.server import LocalSlack
from tests.conftest import TOKEN, make_settings, start_bot


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("needs root and tmpfs to give the database a disk of its own")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def disk_bot(small_disk: Path, tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    settings = make_settings(tmp_path, database_url=f"sqlite:///{small_disk / 'bot.db'}",
                             alerts={"sources": {"generic": {"bearer_token": TOKEN}}}, incidents={"first_checks": 0})
    running = start_bot(settings, local_slack)
    yield running
    running.close()


def _alert(bot: LocalBot) -> requests.Response:
    key = uuid.uuid4().hex
    return requests.post(f"{bot.url}/alerts/generic", timeout=30,
                         json={"title": f"Storage drill {key}", "dedup_key": key, "labels": {"queue": f"q-{key}"}},
                         headers={"Authorization": f"Bearer {TOKEN}"})


def _database_check(bot: LocalBot) -> tuple[int, dict[str, object]]:
    answer = requests.get(f"{bot.url}/readyz", timeout=30)
    return answer.status_code, next(c for c in answer.json()["checks"] if c["name"] == "database")


def _refused_until_storage_returns(bot: LocalBot, said: str) -> None:
    answers = [_alert(bot) for _ in range(40)]  # a write may still fit in space SQLite already holds
    refused = [a for a in answers if a.status_code != 200]
    assert refused, [a.status_code for a in answers]
    assert refused[0].status_code == 503 and refused[0].headers["Retry-After"] == "30"
    assert said in refused[0].json()["reason"], refused[0].json()
    status, check = _database_check(bot)
    assert status == 503 and check["ok"] is False and said in str(check["error"]), check
    reply = bot.slash("/incident open Disk test --severity warning").json()["text"]
    assert reply.startswith("Nothing was done: the bot's database cannot take it") and said in reply, reply


def test_a_full_disk_refuses_new_work_says_why_and_recovers(disk_bot: LocalBot, small_disk: Path) -> None:
    assert _alert(disk_bot).status_code == 200
    assert _database_check(disk_bot)[1]["ok"] is True
    filler = small_disk / "filler"
    with filler.open("wb") as f:  # every byte left
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    try:
        _refused_until_storage_returns(disk_bot, "disk is full")
    finally:
        filler.unlink()
    assert _alert(disk_bot).status_code == 200
    assert _database_check(disk_bot)[1]["ok"] is True
