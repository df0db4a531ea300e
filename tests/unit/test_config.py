"""Configuration validation: each bad value stops the bot with one line that names
the field, what is wrong, the value (never a secret's) and the environment variable
to set; the effective configuration is shown with every secret masked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from bot import config
from bot.config import ConfigError, load, masked


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only what each test passes counts, whatever the shell running the tests exports."""
    for name in [n for n in os.environ if n.startswith(config.ENV_PREFIX)]:
        monkeypatch.delenv(name)
    yield


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("port too high", {"http": {"port": 70000}},
     "http.port: Input should be less than or equal to 65535 (got 70000) [env INCIDENTBOT_HTTP__PORT]"),
    ("port not a number", {"http": {"port": "x"}},
     "http.port: Input should be a valid integer, unable to parse string as an integer (got 'x') "
     "[env INCIDENTBOT_HTTP__PORT]"),
    ("bootstrap server without a port", {"kafka": {"local": {"bootstrap_servers": "a:1, b"}}},
     "kafka.local.bootstrap_servers: 'b' is not host:port (got 'a:1, b') "
     "[env INCIDENTBOT_KAFKA__LOCAL__BOOTSTRAP_SERVERS]"),
    ("database not supported", {"database_url": "mysql://x"},
     "database_url: must be a sqlite:/// or postgresql:// URL (got 'mysql://x') [env INCIDENTBOT_DATABASE_URL]"),
    ("umbrella command without a slash", {"slack": {"umbrella_command": "ops"}},
     "slack.umbrella_command: must look like /ops: a slash, then lowercase letters, digits, - or _ (got 'ops') "
     "[env INCIDENTBOT_SLACK__UMBRELLA_COMMAND]"),
    ("negative threshold", {"thresholds": {"lag_warning": -1}},
     "thresholds.lag_warning: Input should be greater than or equal to 0 (got -1) "
     "[env INCIDENTBOT_THRESHOLDS__LAG_WARNING]"),
    ("percentage above 100", {"thresholds": {"under_replicated_percent": 101}},
     "thresholds.under_replicated_percent: Input should be less than or equal to 100 (got 101) "
     "[env INCIDENTBOT_THRESHOLDS__UNDER_REPLICATED_PERCENT]"),
    ("misspelt setting", {"colour": "blue"},
     "colour: unknown setting (check the spelling) (got 'blue') [env INCIDENTBOT_COLOUR]"),
    ("log level", {"log_level": "verbose"},
     "log_level: must be DEBUG, INFO, WARNING or ERROR (got 'verbose') [env INCIDENTBOT_LOG_LEVEL]"),
    ("management URL without scheme", {"rabbitmq": {"local": {"management_url": "localhost:15672"}}},
     "rabbitmq.local.management_url: must start with http:// or https:// (got 'localhost:15672') "
     "[env INCIDENTBOT_RABBITMQ__LOCAL__MANAGEMENT_URL]"),
    ("unknown alert source", {"alerts": {"sources": {"nagios": {}}}},
     "alerts.sources: unknown alert source(s) ['nagios']: use alertmanager, grafana, generic "
     "[env INCIDENTBOT_ALERTS__SOURCES]"),
    ("DLQ pattern without {topic}", {"dlq": {"kafka_patterns": ["{topic}.dlq", "dlq"]}},
     "dlq.kafka_patterns: 'dlq' must contain {topic} exactly once [env INCIDENTBOT_DLQ__KAFKA_PATTERNS]"),
    ("two ladder steps at one minute", {"escalation": {"steps": [{"minute": 5, "kind": "lead"},
                                                                 {"minute": 5, "kind": "brokers"}]}},
     "escalation.steps: two steps share a minute; each minute holds one step [env INCIDENTBOT_ESCALATION__STEPS]"),
    ("unknown ladder step", {"escalation": {"steps": [{"minute": 5, "kind": "pager"}]}},
     "escalation.steps.0.kind: Input should be 'lag_dlq', 'consumer_health', 'brokers', 'platform' or 'lead' "
     "(got 'pager') [env INCIDENTBOT_ESCALATION__STEPS__0__KIND]"),
    ("lead that is not a user id", {"teams": {"payments": {"lead_users": ["bob"]}}},
     "teams.payments.lead_users: 'bob' is not a Slack user id (like U0123ABC) "
     "[env INCIDENTBOT_TEAMS__PAYMENTS__LEAD_USERS]"),
    ("ownership names an unknown team", {"ownership": {"billing-": "nobody"}},
     "ownership: 'billing-' names team 'nobody', which is not under teams"),
    ("default team unknown", {"default_team": "core"}, "default_team: 'core' is not under teams"),
    ("approvals never expire at 0", {"approvals": {"expiry_minutes": 0}},
     "approvals.expiry_minutes: Input should be greater than 0 (got 0) [env INCIDENTBOT_APPROVALS__EXPIRY_MINUTES]"),
]


@pytest.mark.parametrize(("overrides", "line"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_one_line_names_the_field(overrides: dict[str, Any], line: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(**overrides)
    assert str(refused.value) == f"configuration error: {line}"


SECRETS: list[tuple[str, dict[str, Any], str, str]] = [
    ("bot token", {"slack": {"bot_token": "not-a-token-but-secret"}}, "not-a-token-but-secret",
     "slack.bot_token: must be a Slack bot token starting with xoxb- [env INCIDENTBOT_SLACK__BOT_TOKEN]"),
    ("signing secret", {"slack": {"signing_secret": "tooshort-secret"}}, "tooshort-secret",
     "slack.signing_secret: looks truncated: Slack signing secrets are 32 characters "
     "[env INCIDENTBOT_SLACK__SIGNING_SECRET]"),
    ("a password of the wrong type", {"rabbitmq": {"local": {"password": 123456}}}, "123456",
     "rabbitmq.local.password: Input should be a valid string [env INCIDENTBOT_RABBITMQ__LOCAL__PASSWORD]"),
    # (its env hint, INCIDENTBOT_KAFKA__LOCAL__CLIENT_CONFIG__SASL.PASSWORD, is not a name a shell can export;
    # the whole map is set as JSON in INCIDENTBOT_KAFKA__LOCAL__CLIENT_CONFIG: not asserted here, see the report)
    ("a librdkafka secret", {"kafka": {"local": {"client_config": {"sasl.password": 424242}}}}, "424242",
     "kafka.local.client_config.sasl.password: Input should be a valid string"),
]


@pytest.mark.parametrize(("overrides", "secret", "line"), [c[1:] for c in SECRETS], ids=[c[0] for c in SECRETS])
def test_a_secret_is_never_echoed(overrides: dict[str, Any], secret: str, line: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(**overrides)
    shown = str(refused.value)
    if "[env " in line:
        assert shown == f"configuration error: {line}"
    else:
        assert shown.startswith(f"configuration error: {line} [env ")
    assert secret not in shown


def test_every_problem_gets_its_line() -> None:
    with pytest.raises(ConfigError) as refused:
        load(http={"port": 70000}, log_level="x")
    assert str(refused.value).splitlines() == [
        "configuration error: log_level: must be DEBUG, INFO, WARNING or ERROR (got 'x') [env INCIDENTBOT_LOG_LEVEL]",
        "configuration error: http.port: Input should be less than or equal to 65535 (got 70000) "
        "[env INCIDENTBOT_HTTP__PORT]",
    ]


def test_environment_variables_are_read_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCIDENTBOT_THRESHOLDS__DLQ_CRITICAL", "5000")
    assert load().thresholds.dlq_critical == 5000
    monkeypatch.setenv("INCIDENTBOT_HTTP__THREADS", "many")
    with pytest.raises(ConfigError) as refused:
        load()
    assert str(refused.value) == ("configuration error: http.threads: Input should be a valid integer, unable to "
                                  "parse string as an integer (got 'many') [env INCIDENTBOT_HTTP__THREADS]")


def test_grafana_gets_its_signature_headers_under_a_configured_secret() -> None:
    sources = load(alerts={"sources": {"grafana": {"hmac_secret": "s3cret"}}}).alerts.sources
    assert (sources["grafana"].hmac_header, sources["grafana"].hmac_timestamp_header) == (
        "X-Grafana-Alerting-Signature", "X-Grafana-Alerting-Signature-Timestamp")
    assert (sources["generic"].hmac_header, sources["generic"].hmac_timestamp_header) == ("X-Signature", None)


def test_escalation_steps_are_put_in_order() -> None:
    steps = load(escalation={"steps": [{"minute": 30, "kind": "lead"}, {"minute": 5, "kind": "lag_dlq"}]})
    assert [(s.minute, s.kind) for s in steps.escalation.steps] == [(5, "lag_dlq"), (30, "lead")]


def test_masked_shows_the_configuration_without_a_secret() -> None:
    shown = masked(load(
        database_url="postgresql://bot:db-pass-7@db:5432/bot",
        slack={"bot_token": "xoxb-1234-supersecret", "signing_secret": "abcdef0123456789abcdef0123456789"},
        rabbitmq={"local": {"password": "rabbit-pass-42"}},
        kafka={"local": {"client_config": {"sasl.password": "kafka-pass-9", "security.protocol": "SASL_SSL"}}},
        alerts={"sources": {"alertmanager": {"bearer_token": "am-token"}}},
    ))
    assert shown["database_url"] == "postgresql://bot:********@db:5432/bot"
    assert (shown["slack"]["bot_token"], shown["slack"]["signing_secret"]) == ("********", "********")
    assert shown["rabbitmq"]["local"]["password"] == "********"
    assert shown["kafka"]["local"]["client_config"] == {"sasl.password": "********", "security.protocol": "SASL_SSL"}
    assert shown["alerts"]["sources"]["alertmanager"]["bearer_token"] == "********"
    assert shown["alerts"]["sources"]["generic"]["bearer_token"] is None  # unset stays visibly unset
    text = repr(shown)
    for secret in ("db-pass-7", "supersecret", "abcdef0123456789", "rabbit-pass-42", "kafka-pass-9", "am-token"):
        assert secret not in text
