"""Fault drill: the bot's database turns read-only under a running bot, then writable.

SQLite: the file lives on a small ext4 of the test's own (a loop-mounted image). The
kernel refuses to remount a filesystem read-only while a process holds a file open for
writing, and a chmod does not stop root, so the file, its write-ahead log and its folder
are made immutable (`chattr +i`), which ext4 enforces for root and for descriptors
already open: the bot's open connections get "disk I/O error", new ones "attempt to
write a readonly database". (The `-shm` index stays writable: SQLite maps it into
memory, and a mapping made immutable under it kills the process with SIGBUS.)
PostgreSQL: on a database of the test's own, `ALTER DATABASE … SET
default_transaction_read_only = on` and its sessions ended, so the bot reconnects into
read-only sessions and gets PostgreSQL's own "cannot execute INSERT in a read-only
transaction"; then the setting is reset and nothing else is done.

Both: an alert is answered 503 with Retry-After and the reason (Alertmanager retries),
a command says nothing was done, /readyz answers 503 naming the database as read-only,
nothing is logged with a traceback; once the storage takes writes again the bot, not
restarted, stores and opens the next alert and /readyz is ready."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from bot import db
from bot.app.localbot import LocalBot
from bot.localslack.server import LocalSlack
from tests.conftest import POSTGRES, TOKEN, make_settings, start_bot

SAID = "it is read-only"


@pytest.fixture
def ext4_disk(tmp_path: Path) -> Iterator[Path]:
    image, folder = tmp_path / "disk.img", tmp_path / "disk"
    folder.mkdir()
    ready = os.geteuid() == 0 and all(shutil.which(tool) for tool in ("mkfs.ext4", "chattr", "mount"))
    if ready:
        with image.open("wb") as f:
            f.truncate(16 * 1024 * 1024)
        ready = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True).returncode == 0 and \
            subprocess.run(["mount", "-o", "loop", str(image), str(folder)], capture_output=True).returncode == 0
    if not ready:
        pytest.skip("needs root, mkfs.ext4, chattr and a loop device to give the database a disk of its own")
    yield folder
    _immutable(folder, False)
    subprocess.run(["umount", "-l", str(folder)], check=False)  # the loop device goes with its last user


def _immutable(folder: Path, on: bool) -> None:
    paths = [str(p) for p in folder.iterdir() if not p.name.endswith("-shm") and p.name != "lost+found"]
    subprocess.run(["chattr", "+i" if on else "-i", *paths, str(folder)], check=True, capture_output=True)


def _alert(bot: LocalBot) -> requests.Response:
    key = uuid.uuid4().hex
    return requests.post(f"{bot.url}/alerts/generic", timeout=30,
                         json={"title": f"Read-only drill {key}", "dedup_key": key, "labels": {"queue": f"q-{key}"}},
                         headers={"Authorization": f"Bearer {TOKEN}"})


def _database_check(bot: LocalBot) -> tuple[int, dict[str, object]]:
    answer = requests.get(f"{bot.url}/readyz", timeout=30)
    return answer.status_code, next(c for c in answer.json()["checks"] if c["name"] == "database")


def _refused_while_read_only(bot: LocalBot, posted_before: int) -> None:
    refused = _alert(bot)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "30", (refused.status_code,
                                                                                   refused.text)
    assert f"the database cannot take writes ({SAID})" in refused.json()["reason"], refused.json()
    status, check = _database_check(bot)
    assert status == 503 and check["ok"] is False and SAID in str(check["error"]), check
    reply = bot.slash("/incident open Read-only test --severity warning").json()["text"]
    assert reply.startswith("Nothing was done: the bot's database cannot take it") and SAID in reply, reply
    bot.ctx.work.wait_idle(60)
    assert len(bot.slack.state.messages("C0INCIDENTS")) == posted_before  # nothing pretended to have worked


def _stored_and_announced(bot: LocalBot) -> int:
    """An alert while all is well, its announcement out; the messages in the channel."""
    assert _alert(bot).status_code == 200
    bot.ctx.work.wait_idle(60)
    return len(bot.slack.state.messages("C0INCIDENTS"))


def _recovered(bot: LocalBot) -> None:
    stored = _alert(bot)
    assert stored.status_code == 200 and stored.json()["created"] is True, stored.text
    bot.ctx.work.wait_idle(60)
    ref = stored.json()["incident"]
    assert any(ref in m.text for m in bot.slack.state.messages("C0INCIDENTS")), ref  # opened and announced
    status, check = _database_check(bot)
    assert status == 200 and check["ok"] is True, check


def _no_tracebacks(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    """Neither the bot's log nor the output of its processes (the escalation timers run
    in one of their own) carries a traceback: each refusal is one line."""
    noisy = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not noisy, [f"{r.name}: {r.getMessage()}" for r in noisy]
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, (out + err)[-3000:]


@pytest.fixture
def sqlite_bot(ext4_disk: Path, tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    settings = make_settings(tmp_path, database_url=f"sqlite:///{ext4_disk / 'bot.db'}",
                             alerts={"sources": {"generic": {"bearer_token": TOKEN}}}, incidents={"first_checks": 0})
    running = start_bot(settings, local_slack)
    yield running
    _immutable(ext4_disk, False)  # a failed assertion must not leave the bot unable to close its database
    running.close()


def test_a_read_only_sqlite_file_refuses_new_work_says_why_and_recovers(
        sqlite_bot: LocalBot, ext4_disk: Path, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO)
    posted = _stored_and_announced(sqlite_bot)
    _immutable(ext4_disk, True)
    try:
        _refused_while_read_only(sqlite_bot, posted)
    finally:
        _immutable(ext4_disk, False)
    _recovered(sqlite_bot)
    _no_tracebacks(caplog, capfd)


@pytest.fixture
def postgres_bot(postgres: str, tmp_path: Path, local_slack: LocalSlack, brokers: None) -> Iterator[LocalBot]:
    settings = make_settings(tmp_path, database_url=postgres,
                             alerts={"sources": {"generic": {"bearer_token": TOKEN}}}, incidents={"first_checks": 0})
    running = start_bot(settings, local_slack)
    yield running
    running.close()


def _read_only(url: str, on: bool) -> None:
    """The test's own database only: its default for new sessions, and (turning it on)
    its open sessions ended so the bot's reconnect into read-only ones."""
    name = url.rsplit("/", 1)[1]
    admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if on:
                conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            else:
                conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
    finally:
        admin.dispose()


def test_a_read_only_postgres_database_refuses_new_work_says_why_and_recovers(
        postgres_bot: LocalBot, postgres: str, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO)
    posted = _stored_and_announced(postgres_bot)
    _read_only(postgres, True)
    try:
        _refused_while_read_only(postgres_bot, posted)
    finally:
        _read_only(postgres, False)
    # Nothing else: no session is ended and the bot is not told. Its read-only sessions are
    # opened anew once they are READ_ONLY_RECHECK_S old (PostgreSQL cannot be asked cheaply).
    time.sleep(db.READ_ONLY_RECHECK_S)
    _recovered(postgres_bot)
    _no_tracebacks(caplog, capfd)
