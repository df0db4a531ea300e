"""The secrets drill: every secret the configuration can hold is planted with a
recognisable random value, the bot is driven through everything that produces output
(check-config, start-up and its failures, readiness, metrics, slash commands, alert
webhooks right and wrong, brokers refusing the credentials or not answering, an
incident with its timeline and postmortem) and every output is searched for every
planted value. None may appear.

The bot runs as `incidentbot serve` in a process of its own (its stderr is the log
searched); Slack is the local stand-in, which records what the bot posted."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bot.localslack.sender import SlackSender
from bot.localslack.server import LocalSlack
from tests.conftest import POSTGRES, free_port, postgres_database

ROOT = Path(__file__).resolve().parent.parent
KAFKA = os.environ.get("INCIDENTBOT_TEST_KAFKA", "127.0.0.1:" + os.environ.get("KAFKA_PORT", "9092"))
RABBIT_PORT = int(os.environ.get("RABBITMQ_PORT", "5672"))
RABBIT_MGMT = f"http://127.0.0.1:{os.environ.get('RABBITMQ_MANAGEMENT_PORT', '15672')}"
REGISTRY = os.environ.get("INCIDENTBOT_TEST_REGISTRY", "http://127.0.0.1:8081/apis/ccompat/v7")


def _plant(name: str) -> str:
    return f"PLANTED{name}{secrets.token_hex(8)}"


SECRETS: dict[str, str] = {
    "bot_token": "xoxb-" + _plant("bot"),
    "signing_secret": _plant("signing"),
    "app_token": "xapp-1-" + _plant("app"),
    "alertmanager_bearer": _plant("ambearer"),
    "grafana_hmac": _plant("grafanahmac"),
    "generic_bearer": _plant("genericbearer"),
    "generic_hmac": _plant("generichmac"),
    "rabbit_password": _plant("rabbit"),
    "registry_password": _plant("registry"),
    "database_password": _plant("database"),
    "sasl_password": _plant("sasl"),
    "ssl_key_password": _plant("sslkey"),
    "oauth_client_secret": _plant("oauth"),
}


def _config(database_url: str, slack_url: str, port: int) -> dict[str, Any]:
    s = SECRETS
    closed = free_port()  # nothing listens there: a cluster that does not answer
    return {
        "database_url": database_url,
        "slack": {"bot_token": s["bot_token"], "signing_secret": s["signing_secret"], "app_token": s["app_token"],
                  "api_url": slack_url},
        "http": {"port": port},
        "kafka": {
            "local": {"bootstrap_servers": KAFKA, "request_timeout_s": 3},
            "secured": {"bootstrap_servers": f"127.0.0.1:{closed}", "request_timeout_s": 2, "client_config": {
                "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": "drill",
                "sasl.password": s["sasl_password"], "ssl.key.password": s["ssl_key_password"],
                "sasl.oauthbearer.client.secret": s["oauth_client_secret"]}},
        },
        "rabbitmq": {
            "local": {"port": RABBIT_PORT, "management_url": RABBIT_MGMT, "request_timeout_s": 3},
            # The real broker, refusing the planted password on both AMQP and the management API.
            "refused": {"port": RABBIT_PORT, "management_url": RABBIT_MGMT, "request_timeout_s": 3,
                        "username": "guest", "password": s["rabbit_password"]},
        },
        "schema_registry": {"local": {"url": REGISTRY, "username": "drill", "password": s["registry_password"]}},
        "alerts": {"sources": {
            "alertmanager": {"bearer_token": s["alertmanager_bearer"]},
            "grafana": {"hmac_secret": s["grafana_hmac"], "hmac_header": "X-Grafana-Alerting-Signature",
                        "hmac_timestamp_header": "X-Grafana-Alerting-Signature-Timestamp"},
            "generic": {"bearer_token": s["generic_bearer"], "hmac_secret": s["generic_hmac"]},
        }},
        "incidents": {"first_checks": 0},
    }


def _run(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(config), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


class Outputs(dict[str, str]):
    """Every output of the drill, by where it was seen."""

    def add(self, where: str, text: str | bytes | None) -> None:
        if text is None:
            return
        value = text.decode(errors="replace") if isinstance(text, bytes) else text
        self[where] = self.get(where, "") + value


@pytest.fixture(scope="module")
def drill(brokers: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outputs]:
    out = Outputs()
    folder = tmp_path_factory.mktemp("secrets")
    with postgres_database() as url, LocalSlack(token=SECRETS["bot_token"]) as slack:
        # The password is in the URL the bot is given; the shared server trusts local
        # connections, so the bot still gets in.
        database_url = url.replace(f"{POSTGRES}/", f"{POSTGRES.replace('@', ':' + SECRETS['database_password'] + '@')}/")
        assert SECRETS["database_password"] in database_url
        port = free_port()
        config = folder / "bot.yaml"
        config.write_text(yaml.safe_dump(_config(database_url, slack.url, port)))

        checked = _run("check-config", config=config)
        out.add("check-config stdout", checked.stdout)
        out.add("check-config stderr", checked.stderr)
        assert checked.returncode == 0, checked.stderr
        # A configuration error beside the secrets: the message quotes values.
        broken = folder / "broken.yaml"
        broken.write_text(yaml.safe_dump({**_config(database_url, slack.url, port), "http": {"port": -1}}))
        refused = _run("check-config", config=broken)
        out.add("check-config error", refused.stdout + refused.stderr)
        assert refused.returncode == 2 and "http.port" in refused.stderr
        # Start-up failing: a database that does not answer; a Slack that refuses the token.
        no_db = folder / "nodb.yaml"
        pg_port = POSTGRES.rsplit(":", 1)[1]
        no_db.write_text(yaml.safe_dump(_config(database_url.replace(f":{pg_port}/", f":{free_port()}/"), slack.url,
                                                port)))
        failed = _run("serve", config=no_db)
        out.add("serve without database", failed.stdout + failed.stderr)
        assert failed.returncode == 2 and "Traceback" not in failed.stderr, failed.stderr
        assert failed.stderr.startswith("incidentbot: database_url: cannot use the database (connection failed:")
        with LocalSlack(token="xoxb-another-workspace") as other:
            wrong = folder / "wrongslack.yaml"
            wrong.write_text(yaml.safe_dump(_config(database_url, other.url, free_port())))
            failed = _run("serve", config=wrong)
            out.add("serve with a token Slack refuses", failed.stdout + failed.stderr)
            assert failed.returncode == 2

        log = folder / "serve.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen([sys.executable, "-m", "bot.cli", "--config", str(config), "serve"],
                                       cwd=ROOT, stdout=stderr, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_up(base, process)
            _drive(base, slack, out)
        finally:
            process.terminate()
            process.wait(30)
        out.add("serve log", log.read_text(errors="replace"))
        out.add("Slack: messages", json.dumps([vars(m) for m in slack.state.messages()], default=str))
        out.add("Slack: ephemerals", json.dumps([vars(e) for e in slack.state.ephemerals()], default=str))
        out.add("Slack: response_url posts", json.dumps([vars(p) for p in slack.state.response_url_posts()],
                                                        default=str))
        out.add("Slack: files", "".join((f.data or b"").decode(errors="replace") + f.filename
                                        for f in slack.state.files()))
    if os.environ.get("SECRETS_DRILL_DUMP"):  # to read what the drill saw
        Path(os.environ["SECRETS_DRILL_DUMP"]).write_text(json.dumps(out, indent=1))
    yield out


def _wait_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "incidentbot serve exited at start-up"
        try:
            if requests.get(base + "/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError("incidentbot serve did not start within 60 s")


def _sign(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _drive(base: str, slack: LocalSlack, out: Outputs) -> None:
    s = SECRETS
    for path in ("/healthz", "/readyz", "/metrics"):
        answer = requests.get(base + path, timeout=30)
        out.add(f"GET {path}", f"{answer.status_code} {answer.headers} {answer.text}")
    # Alerts: right and wrong credentials, for every source.
    body = json.dumps({"title": "Secrets drill", "severity": "warning", "labels": {"queue": "drill.dlq"},
                       "dedup_key": "secrets-drill"}).encode()
    stamp = str(int(time.time()))
    malformed = b"{not json"
    attempts = {
        "generic ok": ("generic", {"Authorization": f"Bearer {s['generic_bearer']}",
                                   "X-Signature": _sign(s["generic_hmac"], body)}),
        "generic wrong": ("generic", {"Authorization": "Bearer nope", "X-Signature": "00"}),
        "alertmanager wrong": ("alertmanager", {"Authorization": "Bearer nope"}),
        "grafana wrong": ("grafana", {"X-Grafana-Alerting-Signature": "00",
                                      "X-Grafana-Alerting-Signature-Timestamp": stamp}),
        "grafana malformed": ("grafana", {"X-Grafana-Alerting-Signature": _sign(s["grafana_hmac"], stamp.encode()
                                                                                 + b":" + malformed),
                                          "X-Grafana-Alerting-Signature-Timestamp": stamp}),
    }
    for name, (source, headers) in attempts.items():
        answer = requests.post(f"{base}/alerts/{source}", data=malformed if name == "grafana malformed" else body,
                               headers={"Content-Type": "application/json", **headers}, timeout=30)
        out.add(f"alert {name}", f"{answer.status_code} {answer.text}")
    incident = requests.post(f"{base}/alerts/generic", data=body, timeout=30, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {s['generic_bearer']}",
        "X-Signature": _sign(s["generic_hmac"], body)}).json()["incident"]

    sender = SlackSender(base, s["signing_secret"])
    commands = ["/lag drill-no-such-group", "/lag --cluster secured", "/broker --cluster secured", "/dlq", "/dlq --rabbit refused",
                "/rabbit --rabbit refused", "/rabbit", "/schema", "/ops status", "/topology",
                f"/incident status {incident}", f"/incident ack {incident}", f"/incident timeline {incident}",
                f"/incident postmortem {incident}", "/incident nonsense", "/lag --cluster nowhere"]
    later: dict[str, str] = {}  # the commands answered after their acknowledgement, by response_url id
    for line in commands:
        command, _, text = line.partition(" ")
        url = slack.response_url()
        answer = sender.slash(command, text, user_id="U0ALICE", channel_id="C0INCIDENTS", response_url=url)
        out.add(f"ack {line}", f"{answer.status_code} {answer.text}")
        assert answer.status_code == 200, (line, answer.text)
        if not (answer.content and "text" in answer.json()) or "…" in answer.json()["text"]:
            later[url.rsplit("/", 1)[1]] = line

    def waiting() -> list[str]:
        done = {p.url_id for p in slack.state.response_url_posts()}
        return [line for url_id, line in later.items() if url_id not in done]

    deadline = time.monotonic() + 90
    while waiting() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not waiting(), f"no reply to {waiting()}"
    # A request signed with another secret: refused, and the refusal says nothing of ours.
    answer = sender.slash("/lag", "", user_id="U0ALICE", channel_id="C0INCIDENTS", secret="not-the-secret")
    out.add("wrongly signed request", f"{answer.status_code} {answer.text}")
    assert answer.status_code == 401
    slack.state.wait_for(lambda: any(f.filename.endswith(".md") and f.data for f in slack.state.files()) or None,
                         timeout=60)
    for path in ("/readyz", "/metrics"):  # after the failures: the errors they counted
        answer = requests.get(base + path, timeout=30)
        out.add(f"GET {path} after", f"{answer.status_code} {answer.text}")


def test_the_drill_reached_every_output(drill: Outputs) -> None:
    """Not vacuous: the failures happened and were reported, the incident was written up."""
    assert "401" in drill["alert generic wrong"] and "401" in drill["alert grafana wrong"]
    assert "400" in drill["alert grafana malformed"]
    assert "unreachable" in drill["Slack: response_url posts"]
    assert any(name.startswith("GET /readyz") for name in drill)
    assert "Postmortem" in drill["Slack: files"] or "postmortem" in drill["Slack: files"].lower()
    assert "incidentbot listening" in drill["serve log"]


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_no_output_holds_a_planted_secret(drill: Outputs, secret: str) -> None:
    value = SECRETS[secret]
    # The random part alone too: an output that cut or encoded the rest still leaks it.
    needles = {value, value.split("PLANTED", 1)[1]}
    leaks = [where for where, text in drill.items() if any(n in text for n in needles)]
    assert leaks == [], f"{secret} appears in: {leaks}"
