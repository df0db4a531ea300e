"""Verdicts: pure functions from probe snapshots to OK / WARNING / CRITICAL with
reasons, using the operations guide's thresholds (all configurable in Thresholds)."""
