"""Configuration: env vars and YAML, one-line errors naming the field, secrets masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import config

CLI = [sys.executable, "-m", "bot.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTBOT_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env={**base, **(env or {})},
                          cwd=cwd, timeout=60)


def test_defaults_follow_the_operations_guide() -> None:
    settings = config.load()
    assert settings.thresholds.lag_warning == 10_000
    assert settings.thresholds.lag_critical == 100_000
    assert settings.thresholds.dlq_warning == 100
    assert settings.thresholds.dlq_critical == 1_000
    assert settings.kafka["local"].bootstrap_servers == "127.0.0.1:9092"


def test_env_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "bot.yaml"
    f.write_text("log_level: debug\nkafka:\n  prod:\n    bootstrap_servers: kafka-1:9092,kafka-2:9092\n"
                 "http:\n  port: 8080\n")
    monkeypatch.setenv("INCIDENTBOT_HTTP__PORT", "9999")
    settings = config.load(f)
    assert settings.log_level == "DEBUG"
    assert settings.kafka["prod"].bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.http.port == 9999


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"http": {"port": 70000}}, "http.port: Input should be less than or equal to 65535"),
        ({"kafka": {"local": {"bootstrap_servers": "nohost"}}}, "kafka.local.bootstrap_servers: 'nohost' is not host:port"),
        ({"database_url": "mysql://x"}, "database_url: must be a sqlite:/// or postgresql:// URL"),
        ({"slack": {"umbrella_command": "ops"}}, "slack.umbrella_command: must look like /ops"),
        ({"thresholds": {"lag_warning": -1}}, "thresholds.lag_warning: Input should be greater than or equal to 0"),
        ({"colour": "blue"}, "colour: unknown setting (check the spelling)"),
    ],
)
def test_errors_name_the_field(overrides: dict[str, object], expected: str) -> None:
    with pytest.raises(config.ConfigError) as info:
        config.load(**overrides)
    lines = str(info.value).splitlines()
    assert len(lines) == 1
    assert expected in lines[0]


def test_secret_errors_never_echo_the_value() -> None:
    with pytest.raises(config.ConfigError) as info:
        config.load(slack={"bot_token": "not-a-token-but-secret"})
    assert "slack.bot_token" in str(info.value)
    assert "not-a-token-but-secret" not in str(info.value)


def test_check_config_masks_secrets(tmp_path: Path) -> None:
    result = run_cli("check-config", env={
        "INCIDENTBOT_SLACK__BOT_TOKEN": "xoxb-1234-supersecret",
        "INCIDENTBOT_SLACK__SIGNING_SECRET": "abcdef0123456789abcdef0123456789",
        "INCIDENTBOT_RABBITMQ__LOCAL__PASSWORD": "rabbit-pass-42",
        "INCIDENTBOT_DATABASE_URL": "postgresql://bot:db-pass-7@db/bot",
        "INCIDENTBOT_KAFKA__LOCAL__CLIENT_CONFIG": '{"sasl.password": "kafka-pass-9", "security.protocol": "SASL_SSL"}',
    })
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    for secret in ("supersecret", "abcdef0123456789", "rabbit-pass-42", "db-pass-7", "kafka-pass-9"):
        assert secret not in result.stdout + result.stderr
    assert shown["slack"]["bot_token"] == "********"
    assert shown["kafka"]["local"]["client_config"] == {"sasl.password": "********", "security.protocol": "SASL_SSL"}
    assert shown["database_url"] == "postgresql://bot:********@db/bot"


def test_bad_config_stops_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = run_cli("check-config", env={"INCIDENTBOT_HTTP__THREADS": "many"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "incidentbot: configuration error: http.threads: Input should be a valid integer, unable to parse "
        "string as an integer (got 'many') [env INCIDENTBOT_HTTP__THREADS]"
    ]


@pytest.mark.parametrize(("content", "message"), [
    ("kafka: [unclosed", "is not valid YAML at line 1"),
    ("- just\n- a list\n", "must hold a mapping"),
])
def test_bad_yaml_file(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(content)
    result = run_cli("--config", str(f), "check-config")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_cli("check-config", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_the_subcommands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for sub in ("serve", "console", "check-config"):
        assert sub in result.stdout


def test_serve_without_slack_credentials_says_what_to_set(tmp_path: Path) -> None:
    result = run_cli("serve", env={"INCIDENTBOT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "slack.bot_token: required to serve Slack" in result.stderr
    assert "INCIDENTBOT_SLACK__BOT_TOKEN" in result.stderr


def test_ownership_must_name_known_teams() -> None:
    with pytest.raises(config.ConfigError) as info:
        config.load(teams={"payments": {}}, ownership={"billing-": "billing-team"})
    assert str(info.value) == ("configuration error: ownership: 'billing-' names team 'billing-team', "
                               "which is not under teams")
    with pytest.raises(config.ConfigError) as info:
        config.load(teams={"payments": {"lead_users": ["bob"]}})
    assert "teams.payments.lead_users: 'bob' is not a Slack user id" in str(info.value)


def test_longest_ownership_prefix_wins() -> None:
    from bot.escalation.ownership import owner

    settings = config.load(teams={"payments": {}, "core": {}}, ownership={"billing": "payments", "bill": "core"},
                           default_team="core")
    assert owner(settings, "billing-svc") == "payments"
    assert owner(settings, "bills") == "core"
    assert owner(settings, None, "billing.dlq") == "payments"
    assert owner(settings, "unrelated") == "core"
