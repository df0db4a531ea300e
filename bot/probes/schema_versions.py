"""The Schema Registry calls a version cleanup needs, beside the read-only probe:
who references a version, soft-deleting one, and the versions including the
soft-deleted. Confluent's API; Apicurio's ccompat/v7 answers the same (checked:
``referencedby`` lists the referencing schema ids, a soft delete answers the version
number, a referenced version is refused with 42206, ``?deleted=true`` lists the
soft-deleted too)."""

from __future__ import annotations

from bot.probes.schema_registry import SchemaRegistryProbe, _q

REFERENCED = 42206  # "one or more references exist to the schema"


def referenced_by(probe: SchemaRegistryProbe, subject: str, version: int) -> list[int]:
    """The ids of the schemas that reference this version (any subject)."""
    return sorted(probe._call("GET", f"/subjects/{_q(subject)}/versions/{version}/referencedby", subject=subject,
                              version=str(version), what=f"read who references version {version} of '{subject}'"))


def referencing_subjects(probe: SchemaRegistryProbe, schema_id: int) -> list[str]:
    """'subject v3' for each subject version that is the schema `schema_id`."""
    found = probe._call("GET", f"/schemas/ids/{schema_id}/versions", what=f"read where schema id {schema_id} is used")
    return [f"{v['subject']} v{v['version']}" for v in found]


def soft_delete(probe: SchemaRegistryProbe, subject: str, version: int) -> None:
    """DELETE /subjects/{s}/versions/{v}: soft, so `?deleted=true` still lists it and a
    permanent delete (not done here) would be a second call. Raises SchemaRegistryError."""
    probe._call("DELETE", f"/subjects/{_q(subject)}/versions/{version}", subject=subject, version=str(version),
                what=f"delete version {version} of '{subject}'")


def versions(probe: SchemaRegistryProbe, subject: str, *, deleted: bool = False) -> list[int]:
    """The subject's versions; with `deleted`, the soft-deleted ones as well."""
    params = {"deleted": "true"} if deleted else None
    return sorted(probe._call("GET", f"/subjects/{_q(subject)}/versions", subject=subject, params=params,
                              what=f"list the versions of subject '{subject}'"))
