"""Read-only inspection of a Confluent-compatible Schema Registry over its REST API.

Works with Confluent's registry and with Apicurio's compatibility API (configure the
URL with its /apis/ccompat/v7 suffix). Every failure becomes a SchemaRegistryError
whose message is a sentence a person can act on; credentials are never part of it.

Confluent's API does not say when a version was registered, so registration times
(and with them the change-rate check) exist only where the registry exposes them:
for an Apicurio URL they are read from Apicurio's own API, elsewhere they stay None.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from pydantic import BaseModel, ConfigDict, Field

from bot.config import SchemaRegistrySettings
from bot.probes.avro_diff import SchemaChange, diff_avro

log = logging.getLogger(__name__)

_ACCEPT = "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json"
_MAX_MESSAGE = 300


class ErrorKind(StrEnum):
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    AUTH = "auth"
    FORBIDDEN = "forbidden"
    SUBJECT_NOT_FOUND = "subject_not_found"      # 40401
    VERSION_NOT_FOUND = "version_not_found"      # 40402
    SCHEMA_NOT_FOUND = "schema_not_found"        # 40403
    NOT_CONFIGURED = "not_configured"            # 40408
    INVALID_SCHEMA = "invalid_schema"            # 42201
    INVALID_VERSION = "invalid_version"          # 42202
    INCOMPATIBLE = "incompatible"                # 409
    SERVER_ERROR = "server_error"                # 500xx
    BAD_RESPONSE = "bad_response"                # not a Schema Registry answer


class SchemaRegistryError(Exception):
    def __init__(self, kind: ErrorKind, message: str, *, status: int | None = None,
                 error_code: int | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.status, self.error_code = kind, message, status, error_code


# ------------------------------------------------------------------ models


class SchemaVersion(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    subject: str
    version: int
    id: int
    schema_type: str = Field("AVRO", alias="schemaType")  # Confluent omits it for Avro
    schema_text: str = Field(alias="schema")


class VersionInfo(BaseModel):
    version: int
    id: int
    registered_at: datetime | None = None  # None where the registry does not expose it

    @property
    def headline(self) -> str:
        return f"version {self.version} registered (id {self.id})"


class CompatibilityResult(BaseModel):
    registry: str
    subject: str
    against_version: int
    against_id: int
    level: str | None = None            # the subject's effective level when checked
    is_compatible: bool
    messages: list[str] = Field(default_factory=list)       # the registry's own (verbose=true)
    changes: list[SchemaChange] = Field(default_factory=list)  # latest -> candidate, Avro records


class SubjectSnapshot(BaseModel):
    subject: str
    versions: list[int] = Field(default_factory=list)
    recent: list[VersionInfo] = Field(default_factory=list)  # the last few, oldest first
    latest: SchemaVersion | None = None
    compatibility: str | None = None
    compatibility_source: Literal["subject", "global"] | None = None
    latest_changes: list[SchemaChange] = Field(default_factory=list)  # previous -> latest
    error: str | None = None


class RegistrySnapshot(BaseModel):
    registry: str
    url: str
    taken_at: datetime
    reachable: bool
    error: str | None = None
    error_kind: ErrorKind | None = None
    global_compatibility: str | None = None
    all_subjects: list[str] = Field(default_factory=list)
    subjects: list[SubjectSnapshot] = Field(default_factory=list)


# ------------------------------------------------------------------ probe


def subjects_for_topic(topic: str) -> list[str]:
    """The subjects the default TopicNameStrategy uses for a topic."""
    return [f"{topic}-key", f"{topic}-value"]


class SchemaRegistryProbe:
    """One configured registry; holds one HTTP session (keep-alive) for its lifetime."""

    def __init__(self, name: str, settings: SchemaRegistrySettings) -> None:
        self.name, self.settings = name, settings
        self.url = settings.url.rstrip("/")
        self.shown_url = _without_userinfo(self.url)
        self.timeout = settings.request_timeout_s
        self._session = requests.Session()
        self._session.headers["Accept"] = _ACCEPT
        if settings.username:
            password = settings.password.get_secret_value() if settings.password else ""
            self._session.auth = (settings.username, password)

    def close(self) -> None:
        self._session.close()

    # -- the registry's resources

    def subjects(self) -> list[str]:
        return sorted(self._call("GET", "/subjects", what="list subjects"))

    def versions(self, subject: str) -> list[int]:
        return sorted(self._call("GET", f"/subjects/{_q(subject)}/versions", subject=subject,
                                 what=f"list the versions of subject '{subject}'"))

    def version(self, subject: str, version: int | str = "latest") -> SchemaVersion:
        data = self._call("GET", f"/subjects/{_q(subject)}/versions/{version}", subject=subject,
                          version=str(version), what=f"read version {version} of subject '{subject}'")
        return SchemaVersion.model_validate(data)

    def latest(self, subject: str) -> SchemaVersion:
        return self.version(subject, "latest")

    def global_compatibility(self) -> str:
        return _level(self._call("GET", "/config", what="read the global compatibility level"))

    def effective_compatibility(self, subject: str) -> tuple[str, Literal["subject", "global"]]:
        """The level that applies to the subject, and where it is set."""
        what = f"read the compatibility level of subject '{subject}'"
        try:
            own: str | None = _level(self._call("GET", f"/config/{_q(subject)}", subject=subject, what=what))
        except SchemaRegistryError as err:
            if err.kind is not ErrorKind.NOT_CONFIGURED:
                raise
            own = None
        try:
            applied = _level(self._call("GET", f"/config/{_q(subject)}", params={"defaultToGlobal": "true"},
                                        subject=subject, what=what))
        except SchemaRegistryError as err:  # registries too old for defaultToGlobal
            if err.kind is not ErrorKind.NOT_CONFIGURED:
                raise
            applied = self.global_compatibility()
        # Confluent answers 40408 for a subject without a level; Apicurio answers NONE
        # instead (and a subject set to NONE falls back to the global level there), so
        # a plain answer that differs from the applied level is not the subject's own.
        return applied, "subject" if own == applied else "global"

    def check_compatibility(self, subject: str, schema: str | dict[str, Any],
                            schema_type: str = "AVRO") -> CompatibilityResult:
        """Would `schema` be accepted as the next version of `subject`?"""
        text = schema if isinstance(schema, str) else json.dumps(schema)
        if schema_type.upper() == "AVRO":
            try:
                json.loads(text)
            except ValueError as exc:  # caught here: some registries skip parsing at level NONE
                raise SchemaRegistryError(ErrorKind.INVALID_SCHEMA,
                                          f"The candidate schema is not valid Avro: not JSON ({exc}).") from None
        # Reading the latest first makes an unknown subject an error everywhere
        # (Apicurio would call any schema compatible with a subject it lacks).
        latest = self.latest(subject)
        body: dict[str, Any] = {"schema": text}
        if schema_type.upper() != "AVRO":
            body["schemaType"] = schema_type.upper()
        data = self._call("POST", f"/compatibility/subjects/{_q(subject)}/versions/latest",
                          params={"verbose": "true"}, json_body=body, subject=subject,
                          what=f"check a schema against subject '{subject}'", candidate_type=schema_type)
        try:
            level: str | None = self.effective_compatibility(subject)[0]
        except SchemaRegistryError:
            level = None
        changes = diff_avro(latest.schema_text, text) if latest.schema_type == "AVRO" else []
        return CompatibilityResult(
            registry=self.name, subject=subject, against_version=latest.version, against_id=latest.id,
            level=level, is_compatible=bool(data.get("is_compatible")),
            messages=[str(m) for m in data.get("messages") or []], changes=changes)

    def subject_snapshot(self, subject: str, history: int = 5) -> SubjectSnapshot:
        snap = SubjectSnapshot(subject=subject)
        try:
            snap.versions = self.versions(subject)
            recent = self._recent(subject, snap.versions, max(history, 2))  # two for the diff
            snap.recent = [info for info, _ in recent][-max(history, 1):]
            snap.latest = recent[-1][1] if recent else None
            snap.compatibility, snap.compatibility_source = self.effective_compatibility(subject)
            if len(recent) >= 2 and recent[-2][1].schema_type == recent[-1][1].schema_type == "AVRO":
                snap.latest_changes = diff_avro(recent[-2][1].schema_text, recent[-1][1].schema_text)
        except SchemaRegistryError as err:
            if err.kind in (ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT, ErrorKind.AUTH):
                raise
            snap.error = err.message
        return snap

    def _recent(self, subject: str, numbers: list[int], last: int) -> list[tuple[VersionInfo, SchemaVersion]]:
        times = self._registration_times(subject)
        found = [self.version(subject, number) for number in numbers[-last:]] if last > 0 else []
        return [(VersionInfo(version=f.version, id=f.id, registered_at=times.get(f.version)), f) for f in found]

    def snapshot(self, subjects: list[str] | tuple[str, ...] = (), history: int = 5) -> RegistrySnapshot:
        """The registry's state; details only for the given subjects (each costs a few calls)."""
        snap = RegistrySnapshot(registry=self.name, url=self.shown_url, taken_at=datetime.now(UTC), reachable=True)
        try:
            snap.all_subjects = self.subjects()
            snap.global_compatibility = self.global_compatibility()
            snap.subjects = [self.subject_snapshot(s, history) for s in subjects]
        except SchemaRegistryError as err:
            snap.error, snap.error_kind = err.message, err.kind
            snap.reachable = err.kind not in (ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT)
        return snap

    # -- HTTP and error wording

    def _call(self, method: str, path: str, *, what: str, subject: str | None = None,
              version: str | None = None, params: dict[str, str] | None = None,
              json_body: dict[str, Any] | None = None, candidate_type: str = "AVRO") -> Any:
        response = self._send(method, self.url + path, params=params, json_body=json_body)
        if response.status_code < 300:
            try:
                return response.json()
            except ValueError:
                raise self._bad_response(response, what) from None
        raise self._error(response, what, subject, version, candidate_type)

    def _send(self, method: str, url: str, *, params: dict[str, str] | None = None,
              json_body: dict[str, Any] | None = None) -> requests.Response:
        log.debug("schema registry %s %s %s", self.name, method, _without_userinfo(url))
        headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"} if json_body is not None else None
        try:
            return self._session.request(method, url, params=params, json=json_body, headers=headers,
                                         timeout=self.timeout)
        except requests.Timeout:
            raise SchemaRegistryError(
                ErrorKind.TIMEOUT, f"Schema Registry at {self.shown_url} did not answer within "
                f"{self.timeout:g}s; it may be overloaded or its backing Kafka unavailable.") from None
        except requests.ConnectionError as exc:
            raise SchemaRegistryError(
                ErrorKind.UNREACHABLE, f"Schema Registry at {self.shown_url} is unreachable "
                f"({_connection_reason(exc)}); check that it runs and the URL is right.") from None

    def _error(self, response: requests.Response, what: str, subject: str | None,
               version: str | None, candidate_type: str) -> SchemaRegistryError:
        status = response.status_code
        code, message = _error_body(response)
        where = f"Schema Registry at {self.shown_url}"
        if status == 401:
            hint = ("check the username and password" if self.settings.username
                    else "it needs credentials and none are configured")
            return SchemaRegistryError(ErrorKind.AUTH, f"{where} rejected the bot's credentials (HTTP 401): "
                                       f"{hint} in schema_registry.{self.name}.", status=status, error_code=code)
        if status == 403:
            return SchemaRegistryError(ErrorKind.FORBIDDEN, f"{where} does not allow the configured user to "
                                       f"{what} (HTTP 403).", status=status, error_code=code)
        if code is None:
            return self._bad_response(response, what)
        # Built lazily: the not-found sentences cost another call each.
        wording: dict[int, tuple[ErrorKind, Any]] = {
            40401: (ErrorKind.SUBJECT_NOT_FOUND, lambda: self._subject_missing(subject)),
            40402: (ErrorKind.VERSION_NOT_FOUND, lambda: self._version_missing(subject, version)),
            40403: (ErrorKind.SCHEMA_NOT_FOUND,
                    lambda: f"The schema asked for does not exist in the Schema Registry ({message})."),
            40408: (ErrorKind.NOT_CONFIGURED,
                    lambda: f"Subject '{subject}' has no compatibility level of its own; it uses the global one."),
            42201: (ErrorKind.INVALID_SCHEMA,
                    lambda: f"The candidate schema is not valid {_type_word(candidate_type)}: {message}"),
            42202: (ErrorKind.INVALID_VERSION,
                    lambda: f"'{version}' is not a valid version: use a positive number or 'latest'."),
            409: (ErrorKind.INCOMPATIBLE, lambda: f"The schema is incompatible with subject '{subject}': {message}"),
        }
        if code in wording:
            kind, words = wording[code]
            return SchemaRegistryError(kind, words(), status=status, error_code=code)
        if status >= 500:
            return SchemaRegistryError(ErrorKind.SERVER_ERROR, f"{where} failed to {what} (error {code}: {message}); "
                                       "check its logs and its backing store.", status=status, error_code=code)
        return SchemaRegistryError(ErrorKind.BAD_RESPONSE, f"{where} refused to {what} (error {code}: {message}).",
                                   status=status, error_code=code)

    def _bad_response(self, response: requests.Response, what: str) -> SchemaRegistryError:
        hint = ""
        if response.status_code == 404 and "/apis/" not in self.url:
            hint = " Is the URL right? Apicurio serves the Confluent API under /apis/ccompat/v7."
        return SchemaRegistryError(
            ErrorKind.BAD_RESPONSE, f"{self.shown_url} did not answer like a Schema Registry when asked to {what} "
            f"(HTTP {response.status_code}).{hint}", status=response.status_code)

    def _subject_missing(self, subject: str | None) -> str:
        text = f"Subject '{subject}' does not exist in the Schema Registry"
        try:
            existing = self.subjects()
        except SchemaRegistryError:
            return text + "."
        if not existing:
            return text + "; the registry has no subjects at all."
        close = difflib.get_close_matches(subject or "", existing, n=5, cutoff=0.6)
        if close:
            return text + "; did you mean: " + ", ".join(f"'{s}'" for s in close) + "?"
        shown = ", ".join(f"'{s}'" for s in existing[:10])
        more = f" and {len(existing) - 10} more" if len(existing) > 10 else ""
        return f"{text}; subjects that exist: {shown}{more}."

    def _version_missing(self, subject: str | None, version: str | None) -> str:
        text = f"Subject '{subject}' has no version {version}"
        try:
            return text + "; versions that exist: " + ", ".join(map(str, self.versions(subject or ""))) + "."
        except SchemaRegistryError:
            return text + "."

    def _registration_times(self, subject: str) -> dict[int, datetime]:
        """Apicurio's own API has createdOn; Confluent's has nothing, so {} there."""
        match = re.match(r"(.*)/apis/ccompat/v\d+$", self.url)
        if match is None:
            return {}
        url = f"{match.group(1)}/apis/registry/v3/groups/default/artifacts/{_q(subject)}/versions"
        try:
            response = self._send("GET", url, params={"limit": "1000"})
            versions = response.json().get("versions", []) if response.ok else []
            return {int(v["version"]): datetime.fromisoformat(v["createdOn"].replace("Z", "+00:00"))
                    for v in versions if str(v.get("version", "")).isdigit() and v.get("createdOn")}
        except (SchemaRegistryError, ValueError, KeyError, AttributeError) as exc:
            log.debug("no registration times for %s: %s", subject, exc)
            return {}


def _q(subject: str) -> str:
    return quote(subject, safe="")


def _level(data: Any) -> str:
    # GET answers compatibilityLevel; some registries (and PUT) use compatibility.
    if not isinstance(data, dict):
        return ""
    return str(data.get("compatibilityLevel") or data.get("compatibility") or "").upper()


def _type_word(schema_type: str) -> str:
    return {"AVRO": "Avro", "JSON": "JSON Schema", "PROTOBUF": "Protobuf"}.get(schema_type.upper(), schema_type)


def _error_body(response: requests.Response) -> tuple[int | None, str]:
    try:
        data = response.json()
    except ValueError:
        return None, ""
    if not isinstance(data, dict) or not isinstance(data.get("error_code"), int):
        return None, ""
    message = str(data.get("message", "")).strip()
    return data["error_code"], message if len(message) <= _MAX_MESSAGE else message[:_MAX_MESSAGE] + "…"


def _connection_reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    for needle, reason in (("Connection refused", "connection refused"),
                           ("Name or service not known", "host name not found"),
                           ("nodename nor servname", "host name not found"),
                           ("SSL", "TLS handshake failed"),
                           ("reset by peer", "connection reset")):
        if needle in text:
            return reason
    return "cannot connect"


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
