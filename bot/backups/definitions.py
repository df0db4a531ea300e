"""RabbitMQ definitions from the management API: ``GET /api/definitions`` (the whole
broker) and ``GET /api/definitions/<vhost>`` for each virtual host (what a restore into
one vhost takes). A restore POSTs one vhost's definitions to ``/api/definitions/<target>``,
creating the target vhost first.

Secrets: users' password hashes are removed unless backups.include_password_hashes
(a salted SHA-256 hash can be attacked offline, and a restore into a vhost does not
create users anyway); passwords inside URIs of parameters (shovels, federation
upstreams) are masked. Users, vhosts and permissions are kept without them."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import requests

from bot.backups.model import BackupError, Difference, compare_keyed, ordered
from bot.probes.clients import Clients

_URI_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.IGNORECASE)
KINDS = ("queues", "exchanges", "bindings", "policies")


def _v(vhost: str) -> str:
    return quote(vhost, safe="")


def api(clients: Clients, cluster: str, method: str, path: str, body: Any = None, *, missing_ok: bool = False) -> Any:
    rabbit = clients.settings.rabbitmq[cluster]
    try:
        response = clients.rabbit_http(cluster).request(method, f"{rabbit.management_url}/api/{path}", json=body,
                                                        timeout=max(rabbit.request_timeout_s, 30.0))
    except requests.RequestException as exc:
        raise BackupError(f"The RabbitMQ management API of {cluster} did not answer {method} /api/{path} "
                          f"({type(exc).__name__}).") from None
    if response.status_code == 404 and missing_ok:
        return None
    if response.status_code >= 400:
        raise BackupError(f"The RabbitMQ management API of {cluster} refused {method} /api/{path}: "
                          f"HTTP {response.status_code} {response.text[:200]}")
    return response.json() if response.content else None


def sanitise(node: Any, keep_hashes: bool = False) -> Any:
    """Definitions without password hashes (unless kept) and without passwords in URIs."""
    if isinstance(node, dict):
        return {k: sanitise(v, keep_hashes) for k, v in node.items() if keep_hashes or k != "password_hash"}
    if isinstance(node, list):
        return [sanitise(v, keep_hashes) for v in node]
    if isinstance(node, str):
        return _URI_PASSWORD.sub(r"\1********@", node)
    return node


def collect(clients: Clients, cluster: str, *, keep_hashes: bool = False) -> dict[str, Any]:
    """{"broker": the whole export, "vhosts": {vhost: that vhost's export}}"""
    whole = api(clients, cluster, "GET", "definitions")
    vhosts = {v["name"]: sanitise(api(clients, cluster, "GET", f"definitions/{_v(v['name'])}", missing_ok=True)
                                  or {}, keep_hashes) for v in whole.get("vhosts", [])}
    return {"broker": sanitise(whole, keep_hashes), "vhosts": vhosts}


def vhost_definitions(clients: Clients, cluster: str, vhost: str) -> dict[str, Any] | None:
    """One vhost's definitions; None when there is no such vhost (the API answers 400 then)."""
    if api(clients, cluster, "GET", f"vhosts/{_v(vhost)}", missing_ok=True) is None:
        return None
    found = api(clients, cluster, "GET", f"definitions/{_v(vhost)}", missing_ok=True)
    return sanitise(found) if found is not None else None


def counts(data: dict[str, Any]) -> dict[str, int]:
    broker = data["broker"]
    return {"vhosts": len(broker.get("vhosts", [])), "queues": len(broker.get("queues", [])),
            "exchanges": len(broker.get("exchanges", [])), "bindings": len(broker.get("bindings", []))}


def keyed(defs: dict[str, Any], vhost: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Queues, exchanges, bindings and policies by a readable key (vhost/name), with
    the fields a restore must give back. `vhost` names them when the export is one vhost's."""
    def where(item: dict[str, Any]) -> str:
        return vhost if vhost is not None else item.get("vhost", "")

    def args(item: dict[str, Any]) -> str:
        return json.dumps(item.get("arguments") or {}, sort_keys=True)
    return {
        "queues": {f"{where(q)}/{q['name']}": {"durable": q.get("durable"), "auto_delete": q.get("auto_delete"),
                                                "arguments": q.get("arguments") or {}}
                   for q in defs.get("queues", [])},
        "exchanges": {f"{where(e)}/{e['name']}": {"type": e.get("type"), "durable": e.get("durable"),
                                                   "auto_delete": e.get("auto_delete"), "internal": e.get("internal"),
                                                   "arguments": e.get("arguments") or {}}
                      for e in defs.get("exchanges", [])},
        "bindings": {f"{where(b)}/{b['source']} -> {b['destination_type']} {b['destination']} "
                     f"key={b.get('routing_key', '')!r} args={args(b)}": {}
                     for b in defs.get("bindings", [])},
        "policies": {f"{where(p)}/{p['name']}": {"pattern": p.get("pattern"), "apply-to": p.get("apply-to"),
                                                  "definition": p.get("definition"), "priority": p.get("priority")}
                     for p in defs.get("policies", [])},
    }


FIELDS = {"queues": ["durable", "auto_delete", "arguments"],
          "exchanges": ["type", "durable", "auto_delete", "internal", "arguments"],
          "bindings": [], "policies": ["pattern", "apply-to", "definition", "priority"]}


def diff_keyed(backup: dict[str, dict[str, dict[str, Any]]], live: dict[str, dict[str, dict[str, Any]]], *,
               extras: bool = True) -> list[Difference]:
    diffs: list[Difference] = []
    for kind in KINDS:
        diffs += compare_keyed(kind[:-1] if kind != "policies" else "policy", backup[kind], live[kind],
                               FIELDS[kind], extras=extras)
    return ordered(diffs)


def diff_vhost(backup: dict[str, Any], live: dict[str, Any] | None, vhost: str, *,
               extras: bool = True) -> list[Difference]:
    """One vhost's export against another's (a restore into `vhost`: both keyed by it)."""
    return diff_keyed(keyed(backup, vhost), keyed(live or {}, vhost), extras=extras)


def restorable(defs: dict[str, Any]) -> dict[str, Any]:
    """What a restore into one vhost posts: its queues, exchanges, bindings and policies."""
    strip = ("vhost",)
    return {k: [{f: v for f, v in item.items() if f not in strip} for item in defs.get(k, [])] for k in KINDS}


def restore(clients: Clients, cluster: str, defs: dict[str, Any], vhost: str) -> None:
    """Create `vhost` if missing (with full permissions for the bot's own user, so it can
    read back what it made) and import the definitions into it."""
    if api(clients, cluster, "GET", f"vhosts/{_v(vhost)}", missing_ok=True) is None:
        api(clients, cluster, "PUT", f"vhosts/{_v(vhost)}", {})
        user = clients.settings.rabbitmq[cluster].username
        api(clients, cluster, "PUT", f"permissions/{_v(vhost)}/{quote(user, safe='')}",
            {"configure": ".*", "write": ".*", "read": ".*"})
    api(clients, cluster, "POST", f"definitions/{_v(vhost)}", {"rabbit_version": defs.get("rabbit_version"),
                                                                 **restorable(defs)})
