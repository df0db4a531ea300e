"""Schema Registry subjects: every version with its schema, type and references, the
subject-level compatibility, and the global one, over the Confluent-compatible API
(Confluent's registry, or Apicurio's /apis/ccompat/v7).

Restoring registers the versions again in order, under an optional subject prefix
(references to subjects in the same restore follow them). Registries give new global
ids; what is compared is each subject's versions (number, type, schema, references)
and its compatibility. A subject's history was accepted under its own rules: when the
registry refuses a version as incompatible, the restore sets the subject to NONE and
tries again, and sets the backed-up level after the last version. (Apicurio's ccompat
API treats a subject's NONE as "no rule of its own", so there the global rule still
applies, and a history the global rule refuses cannot be restored through it.)"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from bot.backups.model import BackupError, Difference, compare_fields
from bot.config import SchemaRegistrySettings

_JSON = "application/vnd.schemaregistry.v1+json"


class Incompatible(BackupError):
    """The registry refused a schema as incompatible with the subject's versions (HTTP 409)."""


class Registry:
    """A pooled session for one registry; failures become BackupError sentences."""

    def __init__(self, name: str, settings: SchemaRegistrySettings, workers: int = 16) -> None:
        self.name, self.url, self.timeout = name, settings.url.rstrip("/"), settings.request_timeout_s
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(pool_maxsize=workers))
        self.session.mount("https://", HTTPAdapter(pool_maxsize=workers))
        self.session.headers.update({"Accept": _JSON, "Content-Type": _JSON})
        if settings.username:
            self.session.auth = (settings.username,
                                 settings.password.get_secret_value() if settings.password else "")

    def call(self, method: str, path: str, body: Any = None, *, missing_ok: bool = False) -> Any:
        try:
            response = self.session.request(method, f"{self.url}/{path}", json=body, timeout=self.timeout * 3)
        except requests.RequestException as exc:
            raise BackupError(f"Schema Registry {self.name} did not answer {method} /{path} "
                              f"({type(exc).__name__}).") from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code == 409:
            raise Incompatible(f"Schema Registry {self.name} refused {method} /{path} as incompatible: "
                               f"{response.text[:200]}")
        if response.status_code >= 400:
            raise BackupError(f"Schema Registry {self.name} refused {method} /{path}: HTTP {response.status_code} "
                              f"{response.text[:200]}")
        return response.json() if response.content else None

    def close(self) -> None:
        self.session.close()


def _s(subject: str) -> str:
    return quote(subject, safe="")


def _level(answer: Any) -> str | None:
    if not isinstance(answer, dict):
        return None
    return answer.get("compatibilityLevel") or answer.get("compatibility")


def collect(reg: Registry, *, only: str | None = None, workers: int = 16) -> dict[str, Any]:
    """{"registry", "global_compatibility", "subjects": {subject: {"compatibility", "versions": [...]}}}"""
    subjects = sorted(s for s in reg.call("GET", "subjects") or [] if only is None or s.startswith(only))

    def head(subject: str) -> tuple[str, list[int], str | None]:
        numbers = reg.call("GET", f"subjects/{_s(subject)}/versions", missing_ok=True) or []
        level = _level(reg.call("GET", f"config/{_s(subject)}", missing_ok=True))
        return subject, sorted(numbers), level

    def version(item: tuple[str, int]) -> tuple[str, dict[str, Any] | None]:
        subject, number = item
        found = reg.call("GET", f"subjects/{_s(subject)}/versions/{number}", missing_ok=True)
        if found is None:
            return subject, None  # deleted between the listing and now
        return subject, {"version": found["version"], "id": found.get("id"),
                         "schemaType": found.get("schemaType") or "AVRO", "schema": found["schema"],
                         "references": found.get("references") or []}

    with ThreadPoolExecutor(workers) as pool:
        heads = list(pool.map(head, subjects))
        versions = list(pool.map(version, [(s, n) for s, numbers, _ in heads for n in numbers]))
    out: dict[str, Any] = {s: {"compatibility": level, "versions": []} for s, _, level in heads}
    for subject, found in versions:
        if found is not None:
            out[subject]["versions"].append(found)
    return {"registry": reg.name, "global_compatibility": _level(reg.call("GET", "config")),
            "subjects": {s: v for s, v in out.items() if v["versions"]}}


def counts(data: dict[str, Any]) -> dict[str, int]:
    return {"subjects": len(data["subjects"]), "versions": sum(len(s["versions"]) for s in data["subjects"].values())}


def select(data: dict[str, Any], only: str | None) -> dict[str, Any]:
    if not only:
        return data
    return {**data, "subjects": {s: v for s, v in data["subjects"].items() if s.startswith(only)}}


def _layers(subjects: dict[str, Any]) -> list[list[str]]:
    """Subjects in rounds: each round's references point only at earlier rounds (or
    outside the restore), so a referenced version exists before its referrer."""
    left = dict(subjects)
    rounds: list[list[str]] = []
    done: set[str] = set()
    while left:
        ready = [s for s, v in left.items()
                 if all(r["subject"] in done or r["subject"] not in subjects or r["subject"] == s
                        for ver in v["versions"] for r in ver["references"])]
        if not ready:  # a reference cycle cannot be registered in any order; try the rest at once
            ready = list(left)
        rounds.append(sorted(ready))
        done.update(ready)
        for s in ready:
            del left[s]
    return rounds


def restore(reg: Registry, data: dict[str, Any], *, prefix: str = "", workers: int = 16,
            skip: dict[str, set[str]] | None = None) -> dict[str, dict[int, int]]:
    """Register every subject's versions under prefix+subject. `skip` names, per subject,
    the schema texts already there (the plan's "unchanged" versions). Returns each
    subject's version numbers, backup -> target."""
    subjects = data["subjects"]
    numbers: dict[str, dict[int, int]] = {}
    skip = skip or {}
    referenced = {r["subject"] for v in subjects.values() for ver in v["versions"] for r in ver["references"]}

    def one(subject: str) -> None:
        target = prefix + subject
        versions = subjects[subject]["versions"]
        relaxed = False
        for ver in versions:
            if ver["schema"] in skip.get(subject, set()):
                continue
            refs = [{**r, "subject": prefix + r["subject"],
                     "version": numbers.get(r["subject"], {}).get(r["version"], r["version"])}
                    if r["subject"] in subjects else r for r in ver["references"]]
            body: dict[str, Any] = {"schema": ver["schema"], "schemaType": ver["schemaType"]}
            if refs:
                body["references"] = refs
            try:
                reg.call("POST", f"subjects/{_s(target)}/versions", body)
            except Incompatible:
                if relaxed:
                    raise
                # The history was accepted under the subject's own rules, not today's: relax it
                # for the restore (the backed-up level is set at the end).
                reg.call("PUT", f"config/{_s(target)}", {"compatibility": "NONE"})
                relaxed = True
                reg.call("POST", f"subjects/{_s(target)}/versions", body)
        if skip.get(subject) or subject in referenced:
            listed = sorted(reg.call("GET", f"subjects/{_s(target)}/versions") or [])
            numbers[subject] = {ver["version"]: n for ver, n in zip(versions, listed[-len(versions):])}
        else:  # a new subject numbers its versions 1..n, and nobody here needs them anyway
            numbers[subject] = {ver["version"]: i for i, ver in enumerate(versions, start=1)}
        level = subjects[subject]["compatibility"]
        if level:
            reg.call("PUT", f"config/{_s(target)}", {"compatibility": level})

    with ThreadPoolExecutor(workers) as pool:
        for layer in _layers(subjects):
            list(pool.map(one, layer))
    return numbers


def renamed(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The backup as it should look after a restore under `prefix`: subjects and the
    references between them renamed (version numbers are compared as they are)."""
    if not prefix:
        return data
    names = set(data["subjects"])
    return {**data, "subjects": {prefix + s: {**v, "versions": [
        {**ver, "references": [{**r, "subject": prefix + r["subject"]} if r["subject"] in names else r
                               for r in ver["references"]]} for ver in v["versions"]]}
        for s, v in data["subjects"].items()}}


def _same_schema(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return False


def diff(backup: dict[str, Any], live: dict[str, Any], *, extras: bool = True,
         with_global: bool = False) -> list[Difference]:
    """Subject by subject, version by version (by number), field by field."""
    diffs: list[Difference] = []
    if with_global and backup.get("global_compatibility") != live.get("global_compatibility"):
        diffs.append(Difference(area="compatibility", item="(global)", change="changed", field="level",
                                backup=str(backup.get("global_compatibility")),
                                live=str(live.get("global_compatibility"))))
    for subject in sorted(backup["subjects"]):
        want = backup["subjects"][subject]
        have = live["subjects"].get(subject)
        if have is None:
            diffs.append(Difference(area="subject", item=subject, change="missing",
                                    backup=f"{len(want['versions'])} versions"))
            continue
        diffs += compare_fields("compatibility", subject, want, have, ["compatibility"])
        theirs = {v["version"]: v for v in have["versions"]}
        for ver in want["versions"]:
            item = f"{subject} v{ver['version']}"
            other = theirs.pop(ver["version"], None)
            if other is None:
                diffs.append(Difference(area="version", item=item, change="missing"))
                continue
            if not _same_schema(ver["schema"], other["schema"]):
                diffs.append(Difference(area="version", item=item, change="changed", field="schema",
                                        backup=ver["schema"][:120], live=other["schema"][:120]))
            diffs += compare_fields("version", item, ver, other, ["schemaType", "references"])
        if extras:
            diffs += [Difference(area="version", item=f"{subject} v{n}", change="extra") for n in sorted(theirs)]
    if extras:
        diffs += [Difference(area="subject", item=s, change="extra") for s in sorted(live["subjects"])
                  if s not in backup["subjects"]]
    return diffs


def renumbered(data: dict[str, Any]) -> dict[str, Any]:
    """Versions numbered 1..n in order: a restore registers a subject's versions anew,
    so a backup with a deleted version (1, 3) comes back as 1, 2."""
    return {**data, "subjects": {s: {**v, "versions": [{**ver, "version": i} for i, ver in
                                                       enumerate(v["versions"], start=1)]}
                                 for s, v in data["subjects"].items()}}
