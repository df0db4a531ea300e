"""`incidentbot console`, scripted through stdin as a person or a script would."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import ConsumerGroupTopicPartitions

from tests import kafka_fixtures as kf
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


def readme_walkthrough() -> str:
    """The console script of README's walkthrough, exactly as printed there."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index(".venv/bin/incidentbot console <<'EOF'\n") + len(".venv/bin/incidentbot console <<'EOF'\n")
    return readme[start:readme.index("\nEOF\n", start) + 1]


def test_the_readme_walkthrough_resets_offsets_with_a_second_person(tmp_path: Path, brokers: None,
                                                                     unique: str) -> None:
    topic, group = f"demo-orders-{unique}", f"demo-billing-{unique}"
    kf.create_topic(topic, 1)
    kf.produce(topic, {0: 500})
    kf.commit(group, {(topic, 0): 100})  # what the README's ConsoleConsumer leaves behind
    script = readme_walkthrough()
    assert script.startswith("/incident open ") and ":as U0BOB\n14\n" in script
    year = time.gmtime().tm_year
    result = console(script.replace("demo-orders", topic).replace("demo-billing", group)
                     .replace("INC-2026-0001", f"INC-{year}-0001"), tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    dry_run = out.index("*Dry run* on `local`")
    assert "1 partition, 400 messages skipped, 0 re-processed." in out[dry_run:]
    assert "[14] *Approve*   [15] !Deny!" in out[dry_run:]
    approved = out.index("(now acting as U0BOB)")
    assert "*:white_check_mark: Executed* by <@U0BOB>" in out[approved:]
    assert "*Verified* :white_check_mark:" in out[approved:]
    assert f"{group} lags 0 messages" in out[approved:]
    assert kf.admin().list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(
        timeout=10).topic_partitions[0].offset == 500


def test_a_second_run_edits_the_messages_of_the_first(tmp_path: Path, brokers: None) -> None:
    first = console("/incident open Kept between runs\n", tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "console.db.slack.json").exists()
    ref = first.stdout.split("Opening ", 1)[1].split()[0]
    second = console(f"/incident ack {ref}\n", tmp_path)
    assert second.returncode == 0, second.stderr
    assert "[#incidents · edited" in second.stdout and ":eyes: Acknowledged" in second.stdout
    assert "message_not_found" not in second.stdout + second.stderr
    assert "Traceback" not in second.stdout + second.stderr


def read_until(fd: int, seen: bytearray, wanted: bytes, timeout: float = 60, after: int = 0) -> str:
    """What the terminal showed, once `wanted` shows (at or after byte `after`)."""
    deadline = time.monotonic() + timeout
    while wanted not in seen[after:]:
        assert time.monotonic() < deadline, f"never saw {wanted!r}; got {bytes(seen[-2000:])!r}"
        if select.select([fd], [], [], 0.2)[0]:
            try:
                seen.extend(os.read(fd, 65536))
            except OSError:  # the console ended
                break
    return seen.decode(errors="replace")


def test_at_a_terminal_a_ladder_step_shows_without_breaking_the_typed_line(tmp_path: Path, brokers: None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTBOT_")}
    env.update({
        "INCIDENTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}",
        "INCIDENTBOT_KAFKA__LOCAL__BOOTSTRAP_SERVERS": KAFKA, "INCIDENTBOT_RABBITMQ__LOCAL__PORT": str(RABBIT_PORT),
        "INCIDENTBOT_RABBITMQ__LOCAL__MANAGEMENT_URL": RABBIT_MGMT, "INCIDENTBOT_INCIDENTS__FIRST_CHECKS": "0",
        # One step, three seconds after the incident opens: long enough to start typing.
        "INCIDENTBOT_ESCALATION__STEPS": '[{"minute": 3, "kind": "brokers"}]',
        "INCIDENTBOT_ESCALATION__TIME_SCALE": "60", "TERM": "xterm",
    })
    main, child = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "console"], stdin=child, stdout=child,
                               stderr=child, env=env, close_fds=True)
    os.close(child)
    seen = bytearray()
    try:
        read_until(main, seen, b"U0ALICE> ")
        os.write(main, b"/incident open Typed over\r")
        read_until(main, seen, b"follow it in its thread")
        read_until(main, seen, b"U0ALICE> ")
        os.write(main, b"/incident li")  # no Enter yet: the step arrives meanwhile
        read_until(main, seen, b"*3-minute step*")
        step = seen.index(b"*3-minute step*")
        # The typed line is shown again under the step, as it was.
        read_until(main, seen, b"U0ALICE> /incident li", after=step)
        os.write(main, b"st\r")  # the typed line was kept: it completes to /incident list
        read_until(main, seen, b"== 1 open incident ==")
        os.write(main, b":quit\r")
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
