"""Backups that restore: Schema Registry subjects, consumer group offsets, RabbitMQ
definitions and Kafka topic configurations, written as one archive per run (a
directory with a manifest of checksums and counts) and compared with the live clusters.

The room reads and writes the clusters through plain functions, one module per kind
(schemas, offsets, definitions, topics), each with ``collect`` (read the cluster),
``diff`` (field by field, a list of Differences) and, for the restorable ones,
``restore``. It imports no action: the restore actions in bot.actions build their
plans from these functions and go through the approval flow.
"""

from bot.backups.model import BackupError, Difference

__all__ = ["BackupError", "Difference"]
