"""Top-level field differences between two Avro record schemas, with the
compatibility (BACKWARD, FORWARD) each one breaks: what the "review recent schema
changes" step shows, and a fallback where a registry gives no reasons."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field


class SchemaChange(BaseModel):
    """One difference between two Avro record schemas, with the compatibility it breaks."""

    change: Literal["added", "removed", "type_changed", "record_renamed"]
    field: str
    before: str | None = None   # the type (or record name) before
    after: str | None = None
    has_default: bool = False   # added: the new field has one; removed: the old one had
    breaks: list[str] = Field(default_factory=list)  # "BACKWARD", "FORWARD"

    def describe(self) -> str:
        if self.change == "added":
            text = f"field '{self.field}' ({self.after}) added {'with' if self.has_default else 'without'} a default"
        elif self.change == "removed":
            text = f"field '{self.field}' ({self.before}) removed; it had {'a' if self.has_default else 'no'} default"
        elif self.change == "type_changed":
            text = f"field '{self.field}' changed type from {self.before} to {self.after}"
        else:
            text = f"record renamed from {self.before} to {self.after}"
        return f"{text}: breaks {' and '.join(self.breaks)} compatibility" if self.breaks else text


# ------------------------------------------------------------------ Avro record diff

# writer type -> reader types that can read it (the Avro specification's promotions)
_PROMOTIONS = {"int": {"long", "float", "double"}, "long": {"float", "double"},
               "float": {"double"}, "string": {"bytes"}, "bytes": {"string"}}
_NAMED = {"record", "enum", "fixed"}


def diff_avro(old: str | dict[str, Any], new: str | dict[str, Any]) -> list[SchemaChange]:
    """Top-level field changes between two Avro record schemas ([] for anything else).
    Nested records are compared by name, aliases are not followed: a renamed field
    shows as removed plus added."""
    before, after = _parse(old), _parse(new)
    if not (_is_record(before) and _is_record(after)):
        return []
    changes: list[SchemaChange] = []
    if before["name"].split(".")[-1] != after["name"].split(".")[-1]:
        changes.append(SchemaChange(change="record_renamed", field="", before=before["name"],
                                    after=after["name"], breaks=["BACKWARD", "FORWARD"]))
    old_fields, new_fields = _fields(before), _fields(after)
    for name, field in new_fields.items():
        if name not in old_fields:
            default = "default" in field
            changes.append(SchemaChange(change="added", field=name, after=_type_name(field.get("type")),
                                        has_default=default, breaks=[] if default else ["BACKWARD"]))
        elif _type_name(old_fields[name].get("type")) != _type_name(field.get("type")):
            old_type, new_type = old_fields[name].get("type"), field.get("type")
            breaks = [label for label, ok in (("BACKWARD", _reads(old_type, new_type)),
                                              ("FORWARD", _reads(new_type, old_type))) if not ok]
            changes.append(SchemaChange(change="type_changed", field=name, before=_type_name(old_type),
                                        after=_type_name(new_type), breaks=breaks))
    for name, field in old_fields.items():
        if name not in new_fields:
            default = "default" in field
            changes.append(SchemaChange(change="removed", field=name, before=_type_name(field.get("type")),
                                        has_default=default, breaks=[] if default else ["FORWARD"]))
    return changes


def _fields(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    # Tolerant: a candidate may reach here unvalidated (Apicurio skips parsing at NONE).
    fields = record.get("fields")
    return {f["name"]: f for f in fields if isinstance(f, dict) and isinstance(f.get("name"), str)} \
        if isinstance(fields, list) else {}


def _parse(schema: str | dict[str, Any]) -> Any:
    if not isinstance(schema, str):
        return schema
    try:
        return json.loads(schema)
    except ValueError:
        return None


def _is_record(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "record" and isinstance(schema.get("name"), str)


def _norm(t: Any) -> Any:
    """{"type": "string"} and "string" are the same type; logical types resolve to their base."""
    while isinstance(t, dict) and t.get("type") not in _NAMED | {"array", "map"}:
        t = t.get("type")
    return t


def _kind(t: Any) -> str:
    if isinstance(t, dict):
        return "named:" + str(t.get("name", "")).split(".")[-1] if t.get("type") in _NAMED else str(t["type"])
    primitive = t in {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
    return str(t) if primitive else "named:" + str(t).split(".")[-1]


def _reads(writer: Any, reader: Any) -> bool:
    """Can data written with `writer` be read with `reader`?"""
    w, r = _norm(writer), _norm(reader)
    if isinstance(w, list):
        return all(_reads(branch, r) for branch in w)
    if isinstance(r, list):
        return any(_reads(w, branch) for branch in r)
    wk, rk = _kind(w), _kind(r)
    if wk != rk:
        return rk in _PROMOTIONS.get(wk, set())
    if wk == "array":
        return _reads(w.get("items"), r.get("items"))
    if wk == "map":
        return _reads(w.get("values"), r.get("values"))
    return True


def _type_name(t: Any) -> str:
    if isinstance(t, list):
        return "union[" + ", ".join(_type_name(b) for b in t) + "]"
    if isinstance(t, dict):
        kind = t.get("type")
        if kind == "array":
            return f"array<{_type_name(t.get('items'))}>"
        if kind == "map":
            return f"map<{_type_name(t.get('values'))}>"
        if kind in _NAMED:
            return str(t.get("name"))
        base = _type_name(kind)
        return f"{base}({t['logicalType']})" if "logicalType" in t else base
    return str(t)
