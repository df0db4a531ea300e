"""`incidentbot console`, scripted through stdin as a person or a script would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import KAFKA, RABBIT_MGMT, RABBIT_PORT


def console(stdin: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTBOT_")}
    env.update({
        "INCIDENTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}",
        "INCIDENTBOT_KAFKA__LOCAL__BOOTSTRAP_SERVERS": KAFKA,
        "INCIDENTBOT_RABBITMQ__LOCAL__PORT": str(RABBIT_PORT),
        "INCIDENTBOT_RABBITMQ__LOCAL__MANAGEMENT_URL": RABBIT_MGMT,
    })
    return subprocess.run([sys.executable, "-m", "bot.cli", "console"], input=stdin, capture_output=True,
                          text=True, env=env, timeout=90)


def test_scripted_help_prints_the_command_list(tmp_path: Path, brokers: None) -> None:
    result = console("/incident help\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[only visible to you]" in result.stdout
    assert "== Incident bot commands ==" in result.stdout
    assert "/incident help" in result.stdout and "/ops status" in result.stdout
    assert (tmp_path / "console.db").exists()


def test_scripted_status_shows_the_reply_posted_after_the_ack(tmp_path: Path, brokers: None) -> None:
    result = console("/ops status\n/ops nonsense\n", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Checking Kafka, RabbitMQ and the database" in out
    assert "All connections are up." in out
    assert "I don't know `nonsense`" in out
    assert "Traceback" not in out + result.stderr


def test_the_readme_main_command_reads_piped_input(tmp_path: Path, brokers: None) -> None:
    """`scripts/console` sets everything up first; none of that may eat the piped commands."""
    root = Path(__file__).resolve().parent.parent
    # INCIDENTBOT_CACHE is the scripts' (where the brokers run from), not the bot's
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTBOT_") or k == "INCIDENTBOT_CACHE"}
    env["INCIDENTBOT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'main.db'}"
    result = subprocess.run([str(root / "scripts" / "console")], input="/incident help\n", capture_output=True,
                            text=True, env=env, timeout=300, cwd=root)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "== Incident bot commands ==" in result.stdout
