"""The digests' PNG charts, drawn off-screen like bot.evidence.charts."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.digests.stats import Fit, Point
from bot.evidence.charts import figure, png, time_axis


def produce_consume(rates: list[tuple[str, float, float]], title: str) -> bytes:
    """Bars per topic: messages a second produced and consumed (the slowest group)."""
    fig, ax = figure()
    names = [r[0] for r in rates]
    xs = range(len(rates))
    ax.bar([x - 0.2 for x in xs], [r[1] for r in rates], width=0.4, label="produced/s")
    ax.bar([x + 0.2 for x in xs], [r[2] for r in rates], width=0.4, label="consumed/s (slowest group)")
    ax.set_xticks(list(xs), names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("messages per second")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    return png(fig)


def trend(series: dict[str, tuple[list[Point], Fit | None]], title: str) -> bytes:
    """Daily rate per topic (points) and its straight-line fit (dashed)."""
    fig, ax = figure()
    for name, (points, fit) in sorted(series.items()):
        times = [datetime.fromtimestamp(t, timezone.utc) for t, _ in points]
        line = ax.plot(times, [v for _, v in points], marker="o", linewidth=1.5, label=name)[0]
        if fit is not None and points:
            ends = [points[0][0], points[-1][0]]
            ax.plot([datetime.fromtimestamp(t, timezone.utc) for t in ends], [fit.at(t) for t in ends],
                    linestyle="--", color=line.get_color(), linewidth=1)
    time_axis(ax, "%m-%d")
    ax.set_ylabel("messages per second (daily mean)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return png(fig)
