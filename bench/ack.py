"""The load drill: signed Slack requests at a fixed rate, with an alert storm beside.

A real `incidentbot serve` process (the one measured: its acknowledgements, its
memory) against the real brokers, with the local Slack stand-in in a process of its
own. Two sender processes keep a fixed schedule (open loop: request i leaves at
t0 + i/rate whether or not the earlier ones were answered, and its time is counted
from that scheduled instant, so a slow bot cannot hide behind a slow sender):

- `--rate` Slack requests a second for `--seconds`: `/lag`, `/dlq`, `/broker`,
  `/incident status <ref>` and an Acknowledge button on an incident, in turn;
- `--alert-rate` Alertmanager webhooks a second beside them (each group sent ten
  times, as Alertmanager repeats itself).

Every command carries a response_url of its own; a reply counts when the stand-in
received a post to it (or, for a button, the bot's chat.postEphemeral). Prints one
JSON line. Target: ack p99 <= 50 ms, 0 over 3 s, replies == sent, 0 errors, RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.process_family import cpu_s, rss_mb  # noqa: E402
from bench.slack_process import SLACK_TOKEN, SPAWN  # noqa: E402
from bot.localslack.sender import block_action_payload, signature, slash_payload  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret-0123456789"
ALERT_TOKEN = "bench-alert-token-000000"
CHANNEL = "C0INCIDENTS"
COMMANDER, PRESSER = "U0ALICE", "U0BOB"
KINDS = ("lag", "dlq", "broker", "status", "button")


# -- the Slack stand-in, in a process of its own ---------------------------------------

def _slack(conn: Connection) -> None:
    from bot.localslack.server import LocalSlack

    slack = LocalSlack(token=SLACK_TOKEN, threads=32)
    lock = threading.Lock()
    first_reply: dict[str, float] = {}  # response_url id -> when its first reply (with blocks) arrived
    ephemerals: list[float] = []  # chat.postEphemeral to the button presser
    messages = [0]
    notes = [0]  # response_url posts without blocks: a command's "Reading…" note, a usage error

    def seen(event: Any) -> None:
        with lock:
            # A command's first message ("Reading the lag…") is text alone; its reply
            # (the report, the incident's status) has blocks.
            if event["kind"] == "response_url" and event["item"].payload.get("blocks"):
                first_reply.setdefault(event["item"].url_id, event["time"])
            elif event["kind"] == "response_url":
                notes[0] += 1
            elif event["kind"] == "ephemeral" and event.get("user") == PRESSER:
                ephemerals.append(event["time"])
            elif event["kind"] in ("message", "reply"):
                messages[0] += 1

    slack.state.subscribe(seen)
    slack.start()
    conn.send(slack.url)
    while True:
        ask, *args = conn.recv()
        if ask == "urls":  # n fresh response_urls (ids too), for a channel or a message
            n, message_ts = args
            urls = [slack.response_url(CHANNEL, COMMANDER if message_ts is None else PRESSER, message_ts=message_ts)
                    for _ in range(n)]
            conn.send(urls)
        elif ask == "parents":
            conn.send([(m.ts, m.blocks) for m in slack.state.messages(CHANNEL) if m.thread_ts in (None, m.ts)
                       and m.blocks])
        elif ask == "replies":
            with lock:
                conn.send((dict(first_reply), list(ephemerals), notes[0]))
        elif ask == "stop":
            slack.stop()
            conn.send(None)
            return


class Slack:
    def __init__(self) -> None:
        self._conn, theirs = SPAWN.Pipe()
        self._process = SPAWN.Process(target=_slack, args=(theirs,), daemon=True)
        self._process.start()
        self.url: str = self._conn.recv()
        self.base = self.url.removesuffix("api/")

    def ask(self, *what: Any) -> Any:
        self._conn.send(what)
        return self._conn.recv()


# -- the bot, as `incidentbot serve` ------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(folder: Path, slack_url: str, front: bool = True) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = _free_port()
    kafka = os.environ.get("INCIDENTBOT_TEST_KAFKA", "127.0.0.1:" + os.environ.get("KAFKA_PORT", "9092"))
    settings = {
        "database_url": f"sqlite:///{folder / 'bot.db'}",
        "slack": {"bot_token": SLACK_TOKEN, "signing_secret": SECRET, "api_url": slack_url},
        "http": {"port": port, "front": front},
        "kafka": {"local": {"bootstrap_servers": kafka, "request_timeout_s": 5}},
        "rabbitmq": {"local": {"port": int(os.environ.get("RABBITMQ_PORT", "5672")),
                               "management_url": f"http://127.0.0.1:{os.environ.get('RABBITMQ_MANAGEMENT_PORT', '15672')}"}},
        "alerts": {"sources": {"alertmanager": {"bearer_token": ALERT_TOKEN}}},
        "incidents": {"first_checks": 0},  # the webhook path and the commands, not a first-checks storm
    }
    (folder / "bot.yaml").write_text(yaml.safe_dump(settings))
    log = folder / "serve.log"
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "--config", str(folder / "bot.yaml"), "serve"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).ok:
                return process, url, log
        except requests.RequestException:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"incidentbot serve did not start: {log.read_text()[-2000:]}")


def alert_payload(run: str, n: int) -> bytes:
    """An Alertmanager notification (version 4) of group n; bench.alerts' shape, kept
    here so the sender processes do not import the whole bot."""
    labels = {"alertname": f"AckBench{n}", "severity": "warning", "env": "bench"}
    alert = {"status": "firing", "labels": labels, "annotations": {"summary": f"ack bench alert {n}"},
             "startsAt": "2026-11-29T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prometheus.local", "fingerprint": f"{run}-{n}"}
    return json.dumps({
        "version": "4", "groupKey": f"{run}:{{}}:{{alertname=\"AckBench{n}\"}}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "incidentbot", "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels, "commonAnnotations": alert["annotations"], "externalURL": "http://alertmanager.local",
        "alerts": [alert]}).encode()


# -- senders -------------------------------------------------------------------------------

def signed(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    ts = str(int(time.time()))
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature(SECRET, ts, body)}


def fire(url: str, requests_: list[tuple[bytes, dict[str, str]]], rate: float, t0: float,
         threads: int) -> list[tuple[float, float, int | str, bool]]:
    """Send request i at t0 + i/rate from a pool of threads; returns, per request, its
    time from the scheduled instant to the answer (ms), how late it left (ms) and its status
    (0 for no answer)."""
    local = threading.local()
    out: list[tuple[float, float, int | str, bool]] = [(0.0, 0.0, 0, False)] * len(requests_)

    def one(i: int, due: float) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        left = time.time()
        body, headers = requests_[i]
        if "X-Slack-Signature" in headers:
            headers = signed(body)  # signed as it leaves: Slack's timestamp is the sending time
        answered = False
        try:
            response = session.post(url, data=body, headers=headers, timeout=30)
            status: int | str = response.status_code
            # A command answered in its acknowledgement (`/incident status`) has its reply here.
            answered = bool(response.content) and "text" in response.json()
        except requests.RequestException as exc:
            status = f"{type(exc).__name__}: {str(exc)[-80:]}"
        except ValueError:
            pass
        out[i] = ((time.time() - due) * 1000, (left - due) * 1000, status, answered)

    with ThreadPoolExecutor(threads) as pool:
        for i in range(len(requests_)):
            due = t0 + i / rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            pool.submit(one, i, due)
    return out


def form_field(body: bytes, name: str) -> str:
    from urllib.parse import parse_qs

    return parse_qs(body.decode())[name][0]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--alert-rate", type=float, default=50)
    parser.add_argument("--incidents", type=int, default=20, help="incidents the buttons and /incident status use")
    parser.add_argument("--drain-s", type=float, default=300, help="how long to wait for the last replies")
    parser.add_argument("--keep-log", help="copy the bot's log here")
    parser.add_argument("--front", action=argparse.BooleanOptionalAction, default=True,
                        help="answer Slack from the HTTP front process (http.front); --no-front for the bot alone")
    args = parser.parse_args()
    slack = Slack()
    with tempfile.TemporaryDirectory() as tmp:
        process, url, log = start_serve(Path(tmp), slack.url, args.front)
        try:
            line = drill(args, slack, process, url)
            line["serve_exit"] = process.poll()  # None: still running, as it should be
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        text = log.read_text(errors="replace")
        if args.keep_log:
            Path(args.keep_log).write_text(text)
        line["log_tracebacks"] = text.count("Traceback (most recent call last)")
        line["log_errors"] = sum(1 for row in text.splitlines() if " ERROR " in row or row.startswith("ERROR"))
    slack.ask("stop")
    print(json.dumps(line))


def drill(args: argparse.Namespace, slack: Slack, process: subprocess.Popen[bytes], url: str) -> dict[str, Any]:
    events = url + "/slack/events"

    def slash(command: str, text: str, response_url: str) -> tuple[bytes, dict[str, str]]:
        form = slash_payload(command, text, user_id=COMMANDER, channel_id=CHANNEL, response_url=response_url)
        body = urlencode(form).encode()
        return body, signed(body)

    # The incidents the buttons press on and /incident status asks about, acknowledged
    # beforehand: every later press is answered "already acknowledged" (an ephemeral).
    setup = requests.Session()
    for n in range(args.incidents):
        body, headers = slash("/incident", f"open bench incident {n} --severity warning",
                              slack.ask("urls", 1, None)[0])
        assert setup.post(events, data=body, headers=headers, timeout=30).ok
    deadline = time.monotonic() + 120
    while len(parents := slack.ask("parents")) < args.incidents and time.monotonic() < deadline:
        time.sleep(0.5)
    cards: list[tuple[str, dict[str, Any]]] = []
    for ts, blocks in parents:
        for block in blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == "incident_acknowledge":
                    cards.append((ts, {**element, "block_id": block.get("block_id", "")}))
    assert len(cards) >= args.incidents, f"only {len(cards)} incident cards posted"
    refs = [element["value"] for _, element in cards]
    for ts, element in cards:
        payload = block_action_payload(user_id=COMMANDER, channel_id=CHANNEL, message_ts=ts, action=element)
        body = urlencode({"payload": json.dumps(payload)}).encode()
        assert setup.post(events, data=body, headers=signed(body), timeout=30).ok
    time.sleep(2)  # the acknowledgements' own posts are out before the clock starts

    total = int(args.rate * args.seconds)
    command_urls = iter(slack.ask("urls", total, None))
    plan: list[tuple[bytes, dict[str, str]]] = []
    kinds: list[str] = []
    url_kind: dict[str, str] = {}
    url_due: dict[str, float] = {}  # when the command was due, from the start of sending
    for i in range(total):
        kind = KINDS[i % len(KINDS)]
        kinds.append(kind)
        if kind == "button":
            ts, element = cards[i % len(cards)]
            payload = block_action_payload(user_id=PRESSER, channel_id=CHANNEL, message_ts=ts, action=element,
                                           response_url=slack.ask("urls", 1, ts)[0])
            body = urlencode({"payload": json.dumps(payload)}).encode()
            plan.append((body, signed(body)))
        elif kind == "status":
            plan.append(slash("/incident", f"status {refs[i % len(refs)]}", next(command_urls)))
        else:
            plan.append(slash(f"/{kind}", "", next(command_urls)))
        if kind != "button":
            url_id = form_field(plan[-1][0], "response_url").rsplit("/", 1)[1]
            url_kind[url_id], url_due[url_id] = kind, i / args.rate

    run = f"ack{random.randrange(10**6)}"
    storm_total = int(args.alert_rate * args.seconds)
    groups = max(1, storm_total // 10)
    bodies = [alert_payload(run, n % groups) for n in range(storm_total)]
    random.shuffle(bodies)
    alert_headers = {"Authorization": f"Bearer {ALERT_TOKEN}", "Content-Type": "application/json"}
    storm = [(body, alert_headers) for body in bodies]

    peak = [rss_mb(process.pid)]
    cpu_before, load_before = cpu_s(process.pid), os.getloadavg()[0]
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(0.5):
            peak.append(rss_mb(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    everyone = SPAWN.Barrier(3)
    with SPAWN.Pool(2, initializer=everyone.wait) as pool:
        everyone.wait()  # both senders imported and waiting before the clock starts
        t0 = time.time() + 0.5
        commands = pool.apply_async(fire, (events, plan, args.rate, t0, 64))
        alerts = pool.apply_async(fire, (url + "/alerts/alertmanager", storm, args.alert_rate, t0, 32))
        command_results, alert_results = commands.get(), alerts.get()
    sent_wall = time.time() - t0

    in_ack = sum(1 for (_, _, _, answered), k in zip(command_results, kinds) if answered and k == "status")
    expected_commands = sum(1 for k in kinds if k != "button") - in_ack
    expected_presses = total - expected_commands
    deadline = time.monotonic() + args.drain_s
    while True:
        first_reply, ephemerals, notes = slack.ask("replies")
        command_replies = sum(1 for url_id in first_reply if url_id in url_kind)  # not the set-up's
        button_replies = sum(1 for t in ephemerals if t >= t0)
        if (command_replies >= expected_commands and button_replies >= expected_presses) \
                or time.monotonic() > deadline:
            break
        time.sleep(1)
    last_reply = max([*first_reply.values(), *ephemerals, t0])
    cpu_used = cpu_s(process.pid) - cpu_before
    stop_sampling.set()
    sampler.join()

    acks = [ms for ms, _, _, _ in command_results]
    reply_ms = [(first_reply[u] - t0 - url_due[u]) * 1000 for u in url_due if u in first_reply]
    by_kind = {kind: round(percentile([ms for (ms, _, _, _), k in zip(command_results, kinds) if k == kind], 99), 1)
               for kind in KINDS}
    alert_ok = sum(1 for _, _, status, _ in alert_results if status == 200)
    return {
        "front": args.front,
        "rate": args.rate,
        "sent": total,
        "ack_p50_ms": round(percentile(acks, 50), 1),
        "ack_p99_ms": round(percentile(acks, 99), 1),
        "ack_max_ms": round(max(acks), 1),
        "over_3s": sum(1 for ms in acks if ms > 3000),
        "replies": command_replies + in_ack + button_replies,
        "errors": sum(1 for _, _, status, _ in command_results + alert_results if status != 200),
        "error_statuses": dict(Counter(str(status) for _, _, status, _ in command_results + alert_results
                                       if status != 200)),
        "alerts_sent": storm_total,
        "alerts_per_s": round(alert_ok / sent_wall, 1) if storm else 0,
        "alert_p99_ms": round(percentile([ms for ms, _, _, _ in alert_results], 99), 1),
        "rss_mb": round(max(peak), 1),
        "ack_p99_ms_by_kind": by_kind,
        # From a command's due time to its reply at the stand-in (the work, not the answer).
        "reply_p50_ms": round(percentile(reply_ms, 50), 1) if reply_ms else None,
        "reply_p99_ms": round(percentile(reply_ms, 99), 1) if reply_ms else None,
        # Posts to response_urls besides the replies: each command's "Reading…" note (left
        # out when its answer is already at hand), usage errors (none in this mix).
        "notes_posted": notes,
        "replies_by_kind": dict(Counter(url_kind[url_id] for url_id in first_reply if url_id in url_kind)
                                + Counter(status=in_ack, button=button_replies)),
        "sender_late_p99_ms": round(percentile([late for _, late, _, _ in command_results], 99), 1),
        # The bot's part alone: from when each request actually left the (possibly late) sender.
        "ack_after_leaving_p99_ms": round(percentile([ms - late for ms, late, _, _ in command_results], 99), 1),
        # When the last reply arrived, counted from the end of sending: how far the work fell behind.
        "last_reply_after_s": round(last_reply - t0 - args.seconds, 1),
        # The bot's own CPU for the whole drill (commands, storm, replies) per request,
        # and how busy the host was: on a shared machine the latencies depend on it.
        "serve_cpu_ms_per_request": round(cpu_used * 1000 / (total + storm_total), 2),
        "host_load_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    main()
