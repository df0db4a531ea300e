"""The bot's whole configuration: one pydantic-settings model.

Sources, strongest first: keyword arguments (tests), environment variables with the
``INCIDENTBOT_`` prefix (nested fields joined by ``__``, e.g.
``INCIDENTBOT_SLACK__BOT_TOKEN``), an optional YAML file (``--config``), defaults.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from bot.config.backups import BackupSettings
from bot.config.digests import DigestSettings
from bot.config.dlq_hygiene import DlqHygieneSettings
from bot.config.oncall import OncallSettings
from bot.config.paging import PagerSettings, PagingSettings
from bot.config.sections import (
    AlertSettings,
    AlertSourceSettings,
    ApprovalSettings,
    DlqSettings,
    EscalationSettings,
    HttpSettings,
    IncidentSettings,
    KafkaClusterSettings,
    LadderStep,
    RabbitMQSettings,
    SchemaRegistrySettings,
    SlackSettings,
    StepKind,
    TeamSettings,
    ThresholdOverrides,
    Thresholds,
    default_ladder,
)
from bot.config.silences import MaintenanceSettings, SilenceSettings
from bot.config.watch import WatchSettings

__all__ = [
    "AlertSettings", "AlertSourceSettings", "ApprovalSettings", "BackupSettings", "ConfigError", "DigestSettings",
    "DlqHygieneSettings", "DlqSettings", "EscalationSettings", "HttpSettings", "IncidentSettings",
    "KafkaClusterSettings", "LadderStep", "MaintenanceSettings", "OncallSettings", "PagerSettings", "PagingSettings",
    "RabbitMQSettings", "SchemaRegistrySettings", "Settings", "SilenceSettings", "SlackSettings", "StepKind",
    "TeamSettings", "ThresholdOverrides", "Thresholds", "WatchSettings", "default_ladder", "load", "masked",
]

ENV_PREFIX = "INCIDENTBOT_"
SECRET_KEY_PATTERN = re.compile(r"pass|secret|token|key|credential|auth", re.IGNORECASE)


class ConfigError(Exception):
    """A configuration problem, worded as one line per field for a person to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )
    # Set by load() before instantiation: pydantic-settings reads the YAML path from
    # the model configuration, not from an argument.
    _yaml_file: ClassVar[Path | None] = None

    database_url: str = "sqlite:///incidentbot.db"
    # A folder of your own runbooks (*.yaml) beside the shipped ones; same id replaces.
    runbooks_dir: Path | None = None
    log_level: str = "INFO"
    slack: SlackSettings = Field(default_factory=SlackSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    kafka: dict[str, KafkaClusterSettings] = Field(
        default_factory=lambda: {"local": KafkaClusterSettings()}
    )
    rabbitmq: dict[str, RabbitMQSettings] = Field(
        default_factory=lambda: {"local": RabbitMQSettings()}
    )
    schema_registry: dict[str, SchemaRegistrySettings] = Field(default_factory=dict)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    dlq: DlqSettings = Field(default_factory=DlqSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    backups: BackupSettings = Field(default_factory=BackupSettings)
    paging: PagingSettings = Field(default_factory=PagingSettings)
    dlq_hygiene: DlqHygieneSettings = Field(default_factory=DlqHygieneSettings)
    silences: SilenceSettings = Field(default_factory=SilenceSettings)
    digests: DigestSettings = Field(default_factory=DigestSettings)
    teams: dict[str, TeamSettings] = Field(default_factory=dict)
    # Name prefix (of a consumer group, topic or queue) -> team; the longest prefix wins.
    ownership: dict[str, str] = Field(default_factory=dict)
    default_team: str | None = None
    watch: WatchSettings = Field(default_factory=WatchSettings)
    oncall: OncallSettings = Field(default_factory=OncallSettings)

    @model_validator(mode="after")
    def _teams_exist(self) -> "Settings":
        for prefix, team in self.ownership.items():
            if team not in self.teams:
                raise ValueError(f"ownership: {prefix!r} names team {team!r}, which is not under teams")
        if self.default_team is not None and self.default_team not in self.teams:
            raise ValueError(f"default_team: {self.default_team!r} is not under teams")
        named = [(f"teams.{t}.lead_oncall", team.lead_oncall) for t, team in self.teams.items()]
        named.append(("escalation.platform_oncall", self.escalation.platform_oncall))
        for where, schedule in named:
            if schedule is not None and schedule not in self.oncall.schedules:
                raise ValueError(f"{where}: {schedule!r} is not under oncall.schedules")
        for team in self.paging.teams:
            if team not in self.teams:
                raise ValueError(f"paging.teams: {team!r} is not under teams")
        return self

    @property
    def max_request_bytes(self) -> int:
        """The largest body any HTTP route takes (Slack's or an alert webhook's); each
        route then holds its own limit."""
        return max(self.http.max_body_bytes, self.alerts.max_body_bytes)

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str) -> str:
        if not re.match(r"(sqlite|postgresql)(\+\w+)?://", v):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return v.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=cls._yaml_file))
        return tuple(sources)


def load(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings, or raise ConfigError with one line per problem."""
    path = Path(config_file) if config_file else None
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"--config: {path} does not exist or is not a file")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"--config: {path} is not UTF-8 text (byte {exc.start})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError(f"--config: {path} is not valid YAML{where}") from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"--config: {path} must hold a mapping of settings at the top")
        odd = [key for key in (data or {}) if not isinstance(key, str)]
        if odd:  # YAML allows any key (`? ` alone is a null one); settings are named
            raise ConfigError(f"--config: {path}: a setting's name must be text, found {odd[0]!r}")
    Settings._yaml_file = path
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(err) for err in exc.errors())) from None
    finally:
        Settings._yaml_file = None


def _name(part: object) -> str:
    """A setting's name as the file spells it; a name with spaces, line breaks or other
    odd characters quoted, so that the message stays one readable line."""
    text = str(part)
    return text if re.fullmatch(r"[\w.\-:/@#^~]+", text) else repr(text)


def _describe(err: Any) -> str:
    message = err["msg"].removeprefix("Value error, ")
    if not err["loc"]:  # a rule across fields; the message names them
        return f"configuration error: {message}"
    field = ".".join(_name(part) for part in err["loc"])
    if err["type"] == "extra_forbidden":
        message = "unknown setting (check the spelling)"
    message = " ".join(message.split())  # one line, whatever a validator quoted
    # The environment variable, for names an environment variable can spell.
    env = all(re.fullmatch(r"[\w.\-]+", str(p)) for p in err["loc"])
    hint = f" [env {ENV_PREFIX}{'__'.join(str(p) for p in err['loc']).upper()}]" if env else ""
    value = err.get("input")
    shown = ""
    if not SECRET_KEY_PATTERN.search(field) and isinstance(value, (str, int, float)):
        shown = f" (got {value!r})"
    return f"configuration error: {field}: {message}{shown}{hint}"


def masked(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data, with every secret masked."""
    data = _mask(settings.model_dump(mode="json"))
    data["database_url"] = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1********@", data["database_url"])
    return data


def _mask(node: Any, key: str = "") -> Any:
    if isinstance(node, dict):
        return {k: _mask(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_mask(v, key) for v in node]
    if node is not None and SECRET_KEY_PATTERN.search(key):
        return "********"
    return node
