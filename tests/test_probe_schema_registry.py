"""The Schema Registry probe against a real registry: Apicurio Registry's Confluent
API, started by scripts/schema-registry. A few documented Confluent answers that
Apicurio never gives (40408, verbose messages, 401, 50001) are replayed by a small
stub at the end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, Response, request
from pydantic import SecretStr

from bot.config import SchemaRegistrySettings
from bot.health.schema import compatibility_verdict, error_verdict, subject_verdict
from bot.health.verdict import Level
from bot.httpserver import HttpServer
from bot.probes.schema_registry import ErrorKind, SchemaRegistryError, SchemaRegistryProbe
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
PORT = os.environ.get("SCHEMA_REGISTRY_PORT", "8081")
REGISTRY = os.environ.get("INCIDENTBOT_TEST_SCHEMA_REGISTRY", f"http://127.0.0.1:{PORT}/apis/ccompat/v7")
CONTENT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}

V1 = {"type": "record", "name": "Order", "namespace": "shop",
      "fields": [{"name": "id", "type": "string"}]}
V2 = {**V1, "fields": [*V1["fields"], {"name": "amount", "type": "double", "default": 0.0}]}
V3_OK = {**V1, "fields": [*V2["fields"], {"name": "note", "type": ["null", "string"], "default": None}]}
V3_TYPE = {**V1, "fields": [{"name": "id", "type": "long"}, V2["fields"][1]]}
V3_NO_DEFAULT = {**V1, "fields": [*V2["fields"], {"name": "currency", "type": "string"}]}


@pytest.fixture(scope="session")
def registry_url() -> str:
    if "INCIDENTBOT_TEST_SCHEMA_REGISTRY" not in os.environ:
        started = subprocess.run([str(ROOT / "scripts" / "schema-registry"), "up"],
                                 capture_output=True, text=True, timeout=300)
        if started.returncode != 0:
            pytest.fail(f"scripts/schema-registry up failed:\n{started.stderr[-3000:]}", pytrace=False)
    try:
        requests.get(f"{REGISTRY}/subjects", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(f"Schema Registry at {REGISTRY} does not answer: {exc}", pytrace=False)
    return REGISTRY


@pytest.fixture
def probe(registry_url: str) -> Iterator[SchemaRegistryProbe]:
    p = SchemaRegistryProbe("local", SchemaRegistrySettings(url=registry_url, request_timeout_s=5))
    yield p
    p.close()


@pytest.fixture
def subject(registry_url: str, unique: str) -> Iterator[str]:
    """A subject with V1 and V2 registered; deleted afterwards."""
    name = f"orders-{unique}-value"
    yield name
    for params in ({}, {"permanent": "true"}):
        requests.delete(f"{registry_url}/subjects/{name}", params=params, timeout=5)


def register(url: str, subject: str, schema: dict[str, Any]) -> int:
    response = requests.post(f"{url}/subjects/{subject}/versions", headers=CONTENT,
                             data=json.dumps({"schema": json.dumps(schema)}), timeout=5)
    response.raise_for_status()
    return int(response.json()["id"])


def set_level(url: str, subject: str, level: str) -> None:
    requests.put(f"{url}/config/{subject}", headers=CONTENT, timeout=5,
                 data=json.dumps({"compatibility": level})).raise_for_status()


def test_subjects_versions_and_latest(probe: SchemaRegistryProbe, registry_url: str, subject: str) -> None:
    first, second = register(registry_url, subject, V1), register(registry_url, subject, V2)
    assert subject in probe.subjects()
    assert probe.versions(subject) == [1, 2]
    latest = probe.latest(subject)
    assert (latest.version, latest.id, latest.schema_type) == (2, second, "AVRO")
    assert [f["name"] for f in json.loads(latest.schema_text)["fields"]] == ["id", "amount"]
    assert probe.version(subject, 1).id == first


def test_snapshot_lists_recent_versions_and_the_latest_change(
        probe: SchemaRegistryProbe, registry_url: str, subject: str) -> None:
    first, second = register(registry_url, subject, V1), register(registry_url, subject, V2)
    snap = probe.snapshot([subject])
    assert snap.reachable and snap.error is None and snap.taken_at.utcoffset() is not None
    assert subject in snap.all_subjects
    detail = snap.subjects[0]
    assert [(v.version, v.id) for v in detail.recent] == [(1, first), (2, second)]
    # Apicurio's own API has registration times (Confluent's has none).
    assert all(v.registered_at is not None for v in detail.recent)
    assert [(c.change, c.field, c.has_default, c.breaks) for c in detail.latest_changes] == [
        ("added", "amount", True, [])]
    judged = subject_verdict(detail)
    assert judged.level is Level.OK
    assert f"version 2 registered (id {second})" in judged.reasons[0]


def test_compatibility_levels_global_and_per_subject(
        probe: SchemaRegistryProbe, registry_url: str, subject: str) -> None:
    register(registry_url, subject, V1)
    raw_global = requests.get(f"{registry_url}/config", timeout=5).json()["compatibilityLevel"]
    assert probe.global_compatibility() == raw_global
    assert probe.effective_compatibility(subject) == (raw_global, "global")
    set_level(registry_url, subject, "FULL")
    assert probe.effective_compatibility(subject) == ("FULL", "subject")


def test_compatible_candidate(probe: SchemaRegistryProbe, registry_url: str, subject: str) -> None:
    register(registry_url, subject, V1)
    second = register(registry_url, subject, V2)
    set_level(registry_url, subject, "BACKWARD")
    result = probe.check_compatibility(subject, V3_OK)
    assert result.is_compatible
    assert (result.against_version, result.against_id, result.level) == (2, second, "BACKWARD")
    assert [(c.change, c.field, c.breaks) for c in result.changes] == [("added", "note", [])]
    assert compatibility_verdict(result).level is Level.OK


def test_incompatible_candidate_is_critical_with_the_reason(
        probe: SchemaRegistryProbe, registry_url: str, subject: str) -> None:
    register(registry_url, subject, V1)
    register(registry_url, subject, V2)
    set_level(registry_url, subject, "BACKWARD")
    result = probe.check_compatibility(subject, json.dumps(V3_TYPE))
    assert not result.is_compatible
    judged = compatibility_verdict(result)
    assert judged.level is Level.CRITICAL
    assert "field 'id' changed type from string to long" in judged.reasons[0]
    assert "under BACKWARD" in judged.reasons[0]

    set_level(registry_url, subject, "FULL")
    result = probe.check_compatibility(subject, V3_NO_DEFAULT)
    assert not result.is_compatible and result.level == "FULL"
    assert [c.describe() for c in result.changes] == [
        "field 'currency' (string) added without a default: breaks BACKWARD compatibility"]


def test_unknown_subject_names_close_matches(probe: SchemaRegistryProbe, registry_url: str, subject: str) -> None:
    register(registry_url, subject, V1)
    typo = subject.replace("-value", "-valeu")
    with pytest.raises(SchemaRegistryError) as info:
        probe.latest(typo)
    assert info.value.kind is ErrorKind.SUBJECT_NOT_FOUND and info.value.error_code == 40401
    assert str(info.value).startswith(f"Subject '{typo}' does not exist in the Schema Registry; did you mean:")
    assert f"'{subject}'" in str(info.value)
    # A check against a missing subject is an error, not "compatible".
    with pytest.raises(SchemaRegistryError) as info:
        probe.check_compatibility(typo, V2)
    assert info.value.kind is ErrorKind.SUBJECT_NOT_FOUND
    with pytest.raises(SchemaRegistryError) as info:
        probe.versions("zz-nothing-like-it")
    assert "subjects that exist: " in str(info.value)
    assert subject_verdict(probe.subject_snapshot(typo)).level is Level.WARNING


def test_unknown_version(probe: SchemaRegistryProbe, registry_url: str, subject: str) -> None:
    register(registry_url, subject, V1)
    register(registry_url, subject, V2)
    with pytest.raises(SchemaRegistryError) as info:
        probe.version(subject, 9)
    assert info.value.kind is ErrorKind.VERSION_NOT_FOUND
    assert str(info.value) == f"Subject '{subject}' has no version 9; versions that exist: 1, 2."


def test_invalid_schema(probe: SchemaRegistryProbe, registry_url: str, subject: str) -> None:
    register(registry_url, subject, V1)
    with pytest.raises(SchemaRegistryError) as info:
        probe.check_compatibility(subject, '{"type": "record", "name": ')
    assert info.value.kind is ErrorKind.INVALID_SCHEMA
    assert str(info.value).startswith("The candidate schema is not valid Avro: not JSON")
    with pytest.raises(SchemaRegistryError) as info:  # JSON, but a record without fields
        probe.check_compatibility(subject, {"type": "record", "name": "Order"})
    assert info.value.kind is ErrorKind.INVALID_SCHEMA and info.value.error_code == 42201
    assert str(info.value).startswith("The candidate schema is not valid Avro: ")
    assert error_verdict(info.value.kind, info.value.message).level is Level.CRITICAL


def test_closed_port_is_unreachable_within_the_timeout() -> None:
    port = free_port()
    probe = SchemaRegistryProbe("down", SchemaRegistrySettings(url=f"http://127.0.0.1:{port}", request_timeout_s=2))
    started = time.monotonic()
    snap = probe.snapshot(["orders-value"])
    assert time.monotonic() - started < 2.5
    assert not snap.reachable and snap.error_kind is ErrorKind.UNREACHABLE
    assert snap.error == (f"Schema Registry at http://127.0.0.1:{port} is unreachable (connection refused); "
                          "check that it runs and the URL is right.")
    assert error_verdict(snap.error_kind, snap.error).level is Level.WARNING


def test_silent_registry_times_out_within_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        port = silent.getsockname()[1]
        probe = SchemaRegistryProbe("slow", SchemaRegistrySettings(url=f"http://127.0.0.1:{port}", request_timeout_s=1))
        started = time.monotonic()
        with pytest.raises(SchemaRegistryError) as info:
            probe.subjects()
        assert time.monotonic() - started < 2
    assert info.value.kind is ErrorKind.TIMEOUT
    assert "did not answer within 1s" in str(info.value)


def test_url_without_the_api_path_gets_a_hint(registry_url: str) -> None:
    root = registry_url.split("/apis/")[0]
    probe = SchemaRegistryProbe("local", SchemaRegistrySettings(url=root, request_timeout_s=5))
    with pytest.raises(SchemaRegistryError) as info:
        probe.subjects()
    assert info.value.kind is ErrorKind.BAD_RESPONSE
    assert "Apicurio serves the Confluent API under /apis/ccompat/v7" in str(info.value)


# ------------------------------------------------ documented Confluent answers Apicurio never gives

LATEST = {"subject": "orders-value", "version": 7, "id": 1042,
          "schema": json.dumps(V2)}  # no schemaType: Confluent omits it for Avro


def _confluent_stub() -> Flask:
    app = Flask("confluent-stub")

    def answer(body: object, status: int = 200) -> Response:
        return Response(json.dumps(body), status, content_type="application/vnd.schemaregistry.v1+json")

    @app.before_request
    def _auth() -> Response | None:
        given = request.authorization
        if given is None or (given.username, given.password) != ("bot", "right-password"):
            return answer({"error_code": 401, "message": "Unauthorized"}, 401)
        return None

    @app.get("/subjects")
    def _subjects() -> Response:
        return answer(["orders-value", "payments-value"])

    @app.get("/config")
    def _global() -> Response:
        return answer({"compatibilityLevel": "BACKWARD"})

    @app.get("/config/<subject>")
    def _subject_config(subject: str) -> Response:
        if request.args.get("defaultToGlobal") == "true":
            return answer({"compatibilityLevel": "BACKWARD"})
        return answer({"error_code": 40408, "message":
                       f"Subject '{subject}' does not have subject-level compatibility configured"}, 404)

    @app.get("/subjects/orders-value/versions/latest")
    def _latest() -> Response:
        return answer(LATEST)

    @app.get("/subjects/payments-value/versions")
    def _broken() -> Response:
        return answer({"error_code": 50001, "message": "Error in the backend data store"}, 500)

    @app.post("/compatibility/subjects/orders-value/versions/latest")
    def _check() -> Response:
        assert request.args.get("verbose") == "true"
        return answer({"is_compatible": False, "messages": [
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'currency' at path "
            "'/fields/2' in the new schema has no default value and is missing in the old schema'}"]})

    return app


@pytest.fixture(scope="module")
def confluent() -> Iterator[str]:
    server = HttpServer(_confluent_stub()).start()
    yield server.url
    server.stop()


def _stub_probe(url: str, password: str = "right-password") -> SchemaRegistryProbe:
    settings = SchemaRegistrySettings(url=url, username="bot", password=SecretStr(password))
    return SchemaRegistryProbe("confluent", settings)


def test_40408_means_the_global_level(confluent: str) -> None:
    probe = _stub_probe(confluent)
    assert probe.effective_compatibility("orders-value") == ("BACKWARD", "global")
    assert probe.latest("orders-value").schema_type == "AVRO"


def test_verbose_messages_are_the_reasons(confluent: str) -> None:
    result = _stub_probe(confluent).check_compatibility("orders-value", V3_NO_DEFAULT)
    assert not result.is_compatible and (result.against_version, result.against_id) == (7, 1042)
    judged = compatibility_verdict(result)
    assert judged.level is Level.CRITICAL and "READER_FIELD_MISSING_DEFAULT_VALUE" in judged.reasons[0]


def test_rejected_credentials_are_not_echoed(confluent: str) -> None:
    snap = _stub_probe(confluent, password="wrong-s3cret").snapshot()
    assert snap.reachable and snap.error_kind is ErrorKind.AUTH
    assert snap.error is not None and "wrong-s3cret" not in snap.error and "HTTP 401" in snap.error
    assert "check the username and password in schema_registry.confluent" in snap.error


def test_backend_store_error(confluent: str) -> None:
    with pytest.raises(SchemaRegistryError) as info:
        _stub_probe(confluent).versions("payments-value")
    assert info.value.kind is ErrorKind.SERVER_ERROR
    assert "error 50001: Error in the backend data store" in str(info.value)
