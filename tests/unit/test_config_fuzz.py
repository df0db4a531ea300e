"""Property-based drill of the configuration file: any YAML (or bytes) given to
`--config` either loads or is refused with a ConfigError whose every line says which
setting is wrong; nothing else escapes. Random documents are built from the real
setting names (so that they reach the validators) with values of any type.

The regular suite runs a few hundred documents; the drill runs ten thousand:
`INCIDENTBOT_DRILL_EXAMPLES=10000 pytest tests/unit/test_config_fuzz.py`."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot import config

EXAMPLES = int(os.environ.get("INCIDENTBOT_DRILL_EXAMPLES", "300"))
# The regular suite replays the same inputs every run (no flaky landings); the drill
# (INCIDENTBOT_DRILL_EXAMPLES) explores new ones.
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize="INCIDENTBOT_DRILL_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

LEAF = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
        | st.text(max_size=30) | st.sampled_from(["", "0", "-1", "true", "127.0.0.1:9092", "sqlite:///x.db",
                                                    "http://127.0.0.1:1", "#incidents", "U0ALICE", "5m", "1e309"]))


def _section_names(model: type) -> list[str]:
    return list(getattr(model, "model_fields", {}))


TOP = _section_names(config.Settings)
NESTED = sorted({name for field in config.Settings.model_fields.values()
                 for model in [getattr(field.annotation, "__args__", [None])[-1], field.annotation]
                 if isinstance(model, type) for name in _section_names(model)})
KEYS = st.sampled_from(TOP + NESTED + ["local", "prod", "alertmanager", "grafana", "generic", "sasl.password"]) \
    | st.text(max_size=10)
TREE = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
                    max_leaves=20)
DOCUMENT = st.dictionaries(st.sampled_from(TOP) | st.text(max_size=8), TREE, max_size=5)
LINE = re.compile(r"^(configuration error: .+|--config: .+)$")


def _load(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bot.yaml"
    path.write_bytes(content)
    try:
        config.load(path)
    except config.ConfigError as exc:
        lines = str(exc).splitlines()
        assert lines and all(LINE.match(line) for line in lines), str(exc)


@FUZZ
@given(document=DOCUMENT)
@example(document={"\r": None})  # a name with a line break broke the one-line message
def test_any_settings_document_loads_or_says_what_is_wrong(tmp_path: Path, document: dict[str, object]) -> None:
    _load(tmp_path, yaml.safe_dump(document, allow_unicode=True).encode())


@FUZZ
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
@example(content=b"?")  # a YAML mapping with a null key: pydantic-settings called .lower() on it
@example(content=b"\x80")  # not UTF-8
def test_any_bytes_as_the_file_load_or_say_what_is_wrong(tmp_path: Path, content: bytes) -> None:
    _load(tmp_path, content)
