"""Stand-ins for PagerDuty's `GET /oncalls` and Opsgenie's schedule on-calls endpoint.
Every request is checked against the JSON Schema written from the vendor's published
description (tests/payloads/*_oncalls.schema.json); a request that fails it gets a 400
and is kept in `errors`, so a wrong parameter name fails the test. Answers are checked
against the same documents before they are sent."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema

PAYLOADS = Path(__file__).parent / "payloads"


def _validator(name: str, part: str) -> jsonschema.Draft202012Validator:
    document = json.loads((PAYLOADS / name).read_text())
    return jsonschema.Draft202012Validator({**document, "$ref": f"#/$defs/{part}"})


class VendorStandIn:
    """One HTTP server answering as PagerDuty (`/oncalls`) or Opsgenie
    (`/v2/schedules/{id}/on-calls`), with the on-calls the test sets."""

    def __init__(self, vendor: str, key: str = "secret-key") -> None:
        self.vendor = vendor
        self.key = key
        schema = {"pagerduty": "pagerduty_oncalls.schema.json", "opsgenie": "opsgenie_oncalls.schema.json"}[vendor]
        self.request_schema = _validator(schema, "request")
        self.response_schema = _validator(schema, "response")
        self.oncalls: list[dict[str, Any]] = []  # PagerDuty entries
        self.recipients: dict[str, list[str]] = {}  # Opsgenie: schedule -> user names
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.status = 200  # set to 500 to answer with a server error
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "VendorStandIn":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        request = {"method": "GET", "path": split.path, "headers": dict(h.headers.items()),
                   "query": parse_qs(split.query, keep_blank_values=True)}
        self.requests.append(request)
        problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                    for e in self.request_schema.iter_errors(request)]
        if problems:
            self.errors += problems
            return self._send(h, 400, {"error": {"message": "Invalid Input Provided", "errors": problems}})
        expected = f"Token token={self.key}" if self.vendor == "pagerduty" else f"GenieKey {self.key}"
        if request["headers"].get("Authorization") != expected:
            return self._send(h, 401, {"error": {"message": "Unauthorized", "code": 2006}})
        if self.status != 200:
            return self._send(h, self.status, {"error": {"message": "server error"}})
        body = self._pagerduty(request["query"]) if self.vendor == "pagerduty" else self._opsgenie(split.path)
        self.response_schema.validate(body)
        self._send(h, 200, body)

    def _pagerduty(self, query: dict[str, list[str]]) -> dict[str, Any]:
        schedules = set(query.get("schedule_ids[]", []))
        policies = set(query.get("escalation_policy_ids[]", []))
        found = [e for e in self.oncalls if (not schedules or (e.get("schedule") or {}).get("id") in schedules)
                 and (not policies or e["escalation_policy"]["id"] in policies)]
        if "users" not in query.get("include[]", []):  # references only, as PagerDuty does
            found = [{**e, "user": {k: e["user"][k] for k in ("id", "type", "summary", "self", "html_url")}
                      | {"type": "user_reference"}} for e in found]
        limit, offset = int(query.get("limit", ["25"])[0]), int(query.get("offset", ["0"])[0])
        return {"oncalls": found[offset:offset + limit], "limit": limit, "offset": offset,
                "more": offset + limit < len(found), "total": None}

    def _opsgenie(self, path: str) -> dict[str, Any]:
        schedule = unquote(path.split("/")[3])
        return {"data": {"_parent": {"id": uuid.uuid5(uuid.NAMESPACE_DNS, schedule).hex, "name": schedule,
                                     "enabled": True},
                         "onCallRecipients": list(self.recipients.get(schedule, []))},
                "took": 0.012, "requestId": str(uuid.uuid4())}

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


def pd_entry(email: str, start: str | None, end: str | None, *, schedule: str = "PSCHED1", policy: str = "PPOL1",
             level: int = 1) -> dict[str, Any]:
    """An on-call entry shaped as components.schemas.Oncall, its user included (include[]=users)."""
    uid = "P" + uuid.uuid5(uuid.NAMESPACE_DNS, email).hex[:6].upper()
    return {
        "user": {"id": uid, "type": "user", "summary": email.split("@")[0].title(), "name": email.split("@")[0],
                 "email": email, "self": f"https://api.pagerduty.com/users/{uid}",
                 "html_url": f"https://example.pagerduty.com/users/{uid}"},
        "schedule": {"id": schedule, "type": "schedule_reference", "summary": "Rotation",
                     "self": f"https://api.pagerduty.com/schedules/{schedule}",
                     "html_url": f"https://example.pagerduty.com/schedules/{schedule}"},
        "escalation_policy": {"id": policy, "type": "escalation_policy_reference", "summary": "Policy",
                              "self": f"https://api.pagerduty.com/escalation_policies/{policy}",
                              "html_url": f"https://example.pagerduty.com/escalation_policies/{policy}"},
        "escalation_level": level, "start": start, "end": end,
    }
