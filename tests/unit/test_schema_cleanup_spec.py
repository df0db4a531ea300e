"""/schema-cleanup's words, and which registry it means."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.actions.base import ActionError
from bot.actions.reset_spec import SpecError
from bot.actions.schema_cleanup import CleanupSpec, parse_spec, registry_for
from bot.config import load

USAGE = "Usage: <subject> --keep N [--registry NAME]"
GOOD = [
    ("orders-value --keep 3", CleanupSpec(subject="orders-value", keep=3)),
    ("--keep=1 orders-value", CleanupSpec(subject="orders-value", keep=1)),
    ("orders-value --keep 2 --registry eu", CleanupSpec(subject="orders-value", keep=2, registry="eu")),
]
BAD = [
    ("", f"Name exactly one subject. {USAGE}"),
    ("a b --keep 1", f"Name exactly one subject. {USAGE}"),
    ("orders-value", f"Say how many of the newest versions to keep with `--keep N`. {USAGE}"),
    ("orders-value --keep 0", "`--keep` needs a whole number of 1 or more: the newest version is never deleted."),
    ("orders-value --keep two", "`--keep` needs a whole number of 1 or more: the newest version is never deleted."),
    ("orders-value --keep", f"`--keep` needs a value. {USAGE}"),
    ("orders-value --keep 1 --force", f"Unknown option `--force`. {USAGE}"),
    ("'orders-value --keep 1", f"I could not read that: No closing quotation. {USAGE}"),
]


@pytest.mark.parametrize(("text", "spec"), GOOD)
def test_good_words(text: str, spec: CleanupSpec) -> None:
    assert parse_spec(text) == spec


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_words(text: str, message: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse_spec(text)
    assert str(refused.value) == message


def _ctx(registries: dict[str, dict[str, str]]) -> SimpleNamespace:
    settings = load(database_url="sqlite:///unused.db", schema_registry=registries)
    return SimpleNamespace(clients=SimpleNamespace(settings=settings))


def test_which_registry() -> None:
    two = _ctx({"local": {"url": "http://a"}, "prod": {"url": "http://b"}})
    assert registry_for(two, "prod", None) == "prod"  # type: ignore[arg-type]  # named like the cluster
    assert registry_for(two, "staging", None) == "local"  # type: ignore[arg-type]  # else the first
    assert registry_for(two, "prod", "local") == "local"  # type: ignore[arg-type]
    with pytest.raises(ActionError, match="No Schema Registry named eu. Configured: local, prod."):
        registry_for(two, "prod", "eu")  # type: ignore[arg-type]
    with pytest.raises(ActionError, match="No Schema Registry is configured"):
        registry_for(_ctx({}), "local", None)  # type: ignore[arg-type]
