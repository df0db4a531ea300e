"""A stand-in for the paging tools, as a small real HTTP server: PagerDuty's Events
API v2 (/pagerduty/v2/enqueue), Opsgenie's Alert API (/opsgenie/v2/alerts...),
a Grafana OnCall formatted webhook (/oncall/<token>) and the bot's own signed
webhook (/hook). Every body is checked against the JSON Schemas in
tests/payloads/paging/ (written from the vendors' descriptions); one that fails is
answered as the vendor would (PagerDuty 400 "invalid event", Opsgenie 422) and
kept in `violations`, which the tests assert empty. `script` queues answers to
give instead (a 429, a 500); `hold` keeps the next request unanswered until
`release` (a bot killed while waiting for the vendor)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).parent / "payloads" / "paging"


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


VALIDATORS = {
    "pagerduty": validator("pagerduty-events-v2.schema.json"),
    "opsgenie-create": validator("opsgenie-create-alert.schema.json"),
    "opsgenie-action": validator("opsgenie-alert-action.schema.json"),
    "grafana_oncall": validator("grafana-oncall-formatted-webhook.schema.json"),
    "webhook": validator("incidentbot-webhook.schema.json"),
}


@dataclass
class Received:
    kind: str  # pagerduty, opsgenie-create, opsgenie-action, grafana_oncall, webhook
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0  # what the stand-in answered; 0 while held


class PagerStandIn:
    def __init__(self, *, routing_key: str = "R0UTINGKEY0123456789abcdef012345", genie_key: str = "genie-key-123",
                 webhook_secret: str = "hook-secret-456", oncall_token: str = "oncall-token-789") -> None:
        self.routing_key, self.genie_key = routing_key, genie_key
        self.webhook_secret, self.oncall_token = webhook_secret, oncall_token
        self.received: list[Received] = []
        self.violations: list[str] = []
        self.script: deque[tuple[int, dict[str, str], Any]] = deque()
        self.hold = False
        self._released = threading.Event()
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                stand_in._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "PagerStandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()

    def release(self) -> None:
        self.hold = False
        self._released.set()

    # ------------------------------------------------------------------ what tests read

    def accepted(self, kind: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300 and (kind is None or r.kind == kind)]

    def wait_for(self, count: int, kind: str | None = None, timeout: float = 20.0, accepted: bool = True) -> list[Received]:
        deadline = time.time() + timeout
        while True:
            with self._lock:
                found = [r for r in self.received if (kind is None or r.kind == kind)
                         and (not accepted or 200 <= r.status < 300)]
            if len(found) >= count or time.time() > deadline:
                return found
            time.sleep(0.05)

    # ------------------------------------------------------------------ answering

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length)
        parsed = urlparse(req.path)
        kind = self._kind(parsed.path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        record = Received(kind, req.path, {k: v for k, v in req.headers.items()}, body)
        with self._lock:
            self.received.append(record)
        if self.hold:
            self.hold = False
            self._released.wait(60)  # killed meanwhile: nobody reads the answer
        status, headers, answer = self._answer(kind, parsed, req, raw, body)
        record.status = status
        data = json.dumps(answer).encode() if not isinstance(answer, bytes) else answer
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                req.send_header(name, value)
            req.end_headers()
            req.wfile.write(data)
        except OSError:
            pass

    @staticmethod
    def _kind(path: str) -> str:
        if path == "/pagerduty/v2/enqueue":
            return "pagerduty"
        if path == "/opsgenie/v2/alerts":
            return "opsgenie-create"
        if path.startswith("/opsgenie/v2/alerts/"):
            return "opsgenie-action"
        if path.startswith("/oncall/"):
            return "grafana_oncall"
        if path == "/hook":
            return "webhook"
        return "unknown"

    def _violations(self, kind: str, body: Any) -> list[str]:
        found = [f"{kind}: {'/'.join(str(p) for p in e.absolute_path) or 'body'}: {e.message}"
                 for e in VALIDATORS[kind].iter_errors(body)]
        with self._lock:
            self.violations += found
        return found

    def _answer(self, kind: str, parsed: Any, req: BaseHTTPRequestHandler, raw: bytes,
                body: Any) -> tuple[int, dict[str, str], Any]:
        if kind == "unknown":
            return 404, {}, {"message": "Not Found"}
        if kind == "pagerduty":
            problems = self._violations(kind, body)
            if problems:
                return 400, {}, {"status": "invalid event", "message": "Event object is invalid", "errors": problems}
            if self.script:
                return self.script.popleft()
            if body.get("routing_key") != self.routing_key:
                return 400, {}, {"status": "invalid event", "message": "Event object is invalid",
                                 "errors": ["Invalid routing key"]}
            return 202, {}, {"status": "success", "message": "Event processed",
                             "dedup_key": body.get("dedup_key") or uuid.uuid4().hex}
        if kind.startswith("opsgenie"):
            if req.headers.get("Authorization") != f"GenieKey {self.genie_key}":
                return 401, {}, {"message": "Could not authenticate", "took": 0.0, "requestId": str(uuid.uuid4())}
            if kind == "opsgenie-action":
                verb = parsed.path.rsplit("/", 1)[-1]
                if verb not in ("acknowledge", "close") or parse_qs(parsed.query).get("identifierType") != ["alias"]:
                    self.violations.append(f"opsgenie-action: unexpected {parsed.path}?{parsed.query}")
                    return 404, {}, {"message": "Alert not found", "took": 0.0, "requestId": str(uuid.uuid4())}
            problems = self._violations(kind, body)
            if problems:
                return 422, {}, {"message": "Request body is not processable. " + "; ".join(problems), "took": 0.0,
                                 "requestId": str(uuid.uuid4())}
            if self.script:
                return self.script.popleft()
            return 202, {}, {"result": "Request will be processed", "took": 0.01, "requestId": str(uuid.uuid4())}
        if kind == "grafana_oncall":
            if parsed.path != f"/oncall/{self.oncall_token}":
                return 404, {}, {"detail": "Not found."}
            problems = self._violations(kind, body)
            if problems:
                return 400, {}, {"detail": problems}
            if self.script:
                return self.script.popleft()
            return 200, {}, b"Ok."
        # the bot's own webhook: signed "<timestamp>.<body>"
        stamp = req.headers.get("X-Incidentbot-Timestamp", "")
        expected = "sha256=" + hmac.new(self.webhook_secret.encode(), stamp.encode() + b"." + raw,
                                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(req.headers.get("X-Incidentbot-Signature", ""), expected):
            self.violations.append("webhook: bad signature")
            return 401, {}, {"error": "bad signature"}
        problems = self._violations(kind, body)
        if problems:
            return 400, {}, {"error": "; ".join(problems)}
        if self.script:
            return self.script.popleft()
        return 204, {}, b""
