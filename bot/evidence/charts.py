"""PNG charts of stored samples, drawn off-screen with matplotlib."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from bot.health.lag_trend import Sample

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PartitionKey = tuple[str, str, int]


def lag_chart(group: str, history: dict[PartitionKey, list[Sample]], *, max_lines: int = 8) -> bytes:
    """Total lag of the group per topic over time, plus its worst partitions."""
    per_topic: dict[str, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    per_partition: dict[str, list[tuple[float, int]]] = {}
    for (_, topic, partition), samples in history.items():
        points = [(s.taken_at, s.lag) for s in samples if s.lag is not None]
        for t, lag in points:
            per_topic[topic][t] += lag
        if points:
            per_partition[f"{topic}[{partition}]"] = points  # type: ignore[assignment]
    fig, ax = figure()
    for topic, series in sorted(per_topic.items()):
        times = sorted(series)
        ax.plot([_dt(t) for t in times], [series[t] for t in times], linewidth=2.2, label=f"{topic} (total)")
    worst = sorted(per_partition.items(), key=lambda kv: kv[1][-1][1], reverse=True)
    if len(per_partition) > 1:
        for name, points in worst[:max_lines]:
            ax.plot([_dt(t) for t, _ in points], [lag for _, lag in points], linewidth=1, alpha=0.6,
                    linestyle="--", label=name)
    ax.set_title(f"Consumer lag of {group}")
    ax.set_ylabel("messages behind")
    time_axis(ax, "%H:%M")
    ax.set_xlabel("time (UTC)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return png(fig)


def figure() -> tuple[Figure, Any]:
    """A figure and its axes, off-screen. matplotlib is imported here, at the first
    chart: it costs most of a second at start-up, which most processes never use. The
    Figure API, not pyplot: no global state, so threads may draw at once."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.5), dpi=100)
    return fig, fig.subplots()


def time_axis(ax: Any, fmt: str) -> None:
    import matplotlib.dates as mdates

    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt, tz=timezone.utc))


def png(fig: Figure) -> bytes:
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)
