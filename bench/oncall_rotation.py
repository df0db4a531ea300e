"""How fast the rotation math answers "who is on call" and "who is next": a
three-layer local rotation (weekly, daily with a weekend restriction, 3-day) with 50
overrides in Europe/Berlin, asked at `--count` instants spread over a year (both
clock changes included). Prints one JSON line."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from bot.config.oncall import LocalRotation
from bot.oncall.rotation import Override, next_change, on_call

YEAR = 365 * 86400
START = 1767225600.0  # 2026-01-01T00:00:00Z


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    rot = LocalRotation(timezone="Europe/Berlin", layers=[
        {"members": [f"U0M{i}" for i in range(8)], "shift": "weekly", "handoff_day": "monday"},
        {"members": ["U0W1", "U0W2"], "shift": "daily", "restrictions": [{"days": ["sat", "sun"]}]},
        {"members": ["U0N1", "U0N2", "U0N3"], "shift": "3d", "restrictions": [{"start": "22:00", "end": "06:00"}]},
    ])
    rng = random.Random(7)
    overrides = []
    for n in range(50):
        start = START + rng.random() * YEAR
        overrides.append(Override(f"U0O{n}", start, start + rng.choice([3600, 4 * 3600, 86400]), added_at=n, id=n))
    instants = [START + rng.random() * YEAR for _ in range(args.count)]
    now_us, next_us = [], []
    for t in instants:
        began = time.perf_counter()
        on_call(rot, overrides, t)
        now_us.append((time.perf_counter() - began) * 1e6)
        began = time.perf_counter()
        next_change(rot, overrides, t)
        next_us.append((time.perf_counter() - began) * 1e6)
    print(json.dumps({"bench": "oncall_rotation", "instants": args.count, "layers": 3, "overrides": 50,
                      "on_call_us_p50": round(statistics.median(now_us), 1),
                      "on_call_us_p99": round(sorted(now_us)[int(0.99 * (len(now_us) - 1))], 1),
                      "next_us_p50": round(statistics.median(next_us), 1),
                      "next_us_p99": round(sorted(next_us)[int(0.99 * (len(next_us) - 1))], 1)}))


if __name__ == "__main__":
    main()
