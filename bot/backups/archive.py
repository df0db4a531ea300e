"""One backup on disk: a directory named by its id holding the files of each kind and
a manifest.json listing them with their SHA-256 checksums, sizes, clusters, counts and
times. Written under a temporary name and renamed when complete, so a half-written
backup is never listed. Retention keeps the newest N and drops those past an age."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from bot.backups.model import BackupError

FORMAT = 1
MANIFEST = "manifest.json"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class FileEntry(BaseModel):
    path: str  # relative to the backup's directory
    kind: str  # schemas, offsets, definitions, topics
    cluster: str
    sha256: str
    bytes: int


class Manifest(BaseModel):
    format: int = FORMAT
    id: str
    created_at: datetime
    finished_at: datetime
    created_by: str
    kinds: list[str]
    files: list[FileEntry] = Field(default_factory=list)
    clusters: dict[str, list[str]] = Field(default_factory=dict)  # kind -> cluster names
    counts: dict[str, int] = Field(default_factory=dict)  # subjects, versions, groups, queues, topics...
    errors: list[str] = Field(default_factory=list)  # a kind or cluster that could not be read, as sentences

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.created_at).total_seconds()


def new_id(at: datetime) -> str:
    """Sortable by time, readable aloud: 20261130-160512-7F3K."""
    return f"{at:%Y%m%d-%H%M%S}-{''.join(secrets.choice(_ALPHABET) for _ in range(4))}"


def scrub(text: str, hidden: list[str]) -> str:
    """The text with every configured secret replaced: a backup never holds the bot's own."""
    for value in hidden:
        text = text.replace(value, "********")
    return text


class Writer:
    """Collects the files of one backup, then writes them and the manifest at once."""

    def __init__(self, directory: Path, created_by: str, kinds: list[str], hidden: list[str]) -> None:
        self.directory, self.created_by, self.kinds, self.hidden = directory, created_by, kinds, hidden
        self.created_at = datetime.now(UTC)
        self.id = new_id(self.created_at)
        self.files: dict[str, tuple[str, str, str]] = {}  # path -> (kind, cluster, text)
        self.clusters: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []

    def add(self, kind: str, cluster: str, path: str, text: str) -> None:
        self.files[path] = (kind, cluster, scrub(text, self.hidden))
        names = self.clusters.setdefault(kind, [])
        if cluster not in names:
            names.append(cluster)

    def count(self, **counts: int) -> None:
        for k, v in counts.items():
            self.counts[k] = self.counts.get(k, 0) + v

    def write(self) -> Manifest:
        self.directory.mkdir(parents=True, exist_ok=True)
        temp = self.directory / f".partial-{self.id}"
        entries = []
        for path, (kind, cluster, text) in sorted(self.files.items()):
            data = text.encode()
            target = temp / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            entries.append(FileEntry(path=path, kind=kind, cluster=cluster, sha256=hashlib.sha256(data).hexdigest(),
                                     bytes=len(data)))
        manifest = Manifest(id=self.id, created_at=self.created_at, finished_at=datetime.now(UTC),
                            created_by=self.created_by, kinds=self.kinds, files=entries, clusters=self.clusters,
                            counts=self.counts, errors=self.errors)
        (temp / MANIFEST).write_text(manifest.model_dump_json(indent=2))
        temp.rename(self.directory / self.id)
        return manifest


class Backup:
    """A backup read back from disk; every file is checked against its checksum."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root, self.manifest = root, manifest

    @property
    def id(self) -> str:
        return self.manifest.id

    def entries(self, kind: str) -> list[FileEntry]:
        return [f for f in self.manifest.files if f.kind == kind]

    def text(self, entry: FileEntry) -> str:
        data = (self.root / entry.path).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise BackupError(f"Backup {self.id}: {entry.path} does not match its checksum; the file was changed "
                              f"or damaged, so it is not used.")
        return data.decode()

    def json(self, kind: str, cluster: str | None = None) -> dict[str, Any]:
        """The JSON file of a kind (for one cluster: the first when None)."""
        found = [f for f in self.entries(kind) if f.path.endswith(".json") and "/" not in f.path.split("/", 1)[1]
                 and (cluster is None or f.cluster == cluster)]
        if not found:
            where = f" of {cluster}" if cluster else ""
            raise BackupError(f"Backup {self.id} holds no {kind}{where}: it was taken with "
                              f"{', '.join(self.manifest.kinds)}.")
        return json.loads(self.text(found[0]))


def listing(directory: Path) -> list[Manifest]:
    """Every complete backup in the directory, newest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        manifest = path / MANIFEST
        if path.is_dir() and not path.name.startswith(".") and manifest.is_file():
            try:
                found.append(Manifest.model_validate_json(manifest.read_text()))
            except ValueError:
                continue  # not ours, or damaged: never a reason to fail a listing
    return sorted(found, key=lambda m: m.created_at, reverse=True)


def open_backup(directory: Path, ref: str | None = None) -> Backup:
    """A backup by its id (or a unique start of it); the newest when ref is None or "latest"."""
    manifests = listing(directory)
    if not manifests:
        raise BackupError(f"There is no backup in {directory} yet: take one with `/backup all`.")
    if ref in (None, "", "latest"):
        chosen = manifests[0]
    else:
        assert ref is not None
        matches = [m for m in manifests if m.id.upper().startswith(ref.strip().upper())]
        if not matches:
            raise BackupError(f"There is no backup {ref}. The newest: {', '.join(m.id for m in manifests[:5])}.")
        if len(matches) > 1 and matches[0].id.upper() != ref.strip().upper():
            raise BackupError(f"{ref} fits {len(matches)} backups ({', '.join(m.id for m in matches[:5])}): "
                              f"give more of the id.")
        chosen = matches[0]
    return Backup(directory / chosen.id, chosen)


def prune(directory: Path, keep: int, max_age_days: float | None, now: float | None = None) -> list[str]:
    """Delete the backups past retention: beyond the newest `keep`, or older than the
    age limit (the newest one is never deleted, so a long pause does not leave none).
    Also removes partial directories a killed run left over an hour ago. Returns the
    deleted ids."""
    now = time.time() if now is None else now
    manifests = listing(directory)
    limit = datetime.fromtimestamp(now, UTC) - timedelta(days=max_age_days) if max_age_days else None
    doomed = [m for i, m in enumerate(manifests)
              if i >= keep or (i > 0 and limit is not None and m.created_at < limit)]
    for m in doomed:
        shutil.rmtree(directory / m.id, ignore_errors=True)
    if directory.is_dir():
        for path in directory.glob(".partial-*"):
            if path.stat().st_mtime < now - 3600:
                shutil.rmtree(path, ignore_errors=True)
    return [m.id for m in doomed]
