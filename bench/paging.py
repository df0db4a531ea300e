"""The paging duty's cost per tick (bot.paging.pager.duty: follow-ups and orphans),
which the timer owner runs every second, on a database holding `--incidents`
incidents that were paged: `--open` of them still open and paged, the rest resolved
with their resolve sent (the steady state after months of incidents). Prints one JSON line.
Target: p99 per tick <= 50 ms at 10,000 paged incidents.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from bot import config, db  # noqa: E402
from bot.incidents.tables import incidents  # noqa: E402
from bot.paging import pager  # noqa: E402
from bot.paging.tables import pages  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=100)
    parser.add_argument("--open", type=int, default=50, help="of them still open (paged, not resolved)")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        settings = config.load(database_url=url, paging={
            "pagers": {"pd": {"kind": "pagerduty", "routing_key": "k"}}, "steps": {"platform": ["pd"]}})
        engine = db.create(url)
        db.migrate(engine)
        now = time.time()
        rows, paged = [], []
        for n in range(args.incidents):
            resolved = n >= args.open
            rows.append({"ref": f"INC-B-{n}", "title": "bench", "severity": "critical",
                         "status": "resolved" if resolved else "open", "alerts_resolved": False,
                         "runbook_id": "generic-triage", "labels": {}, "source": "bench", "created_at": now,
                         "updated_at": now, "resolved_at": now if resolved else None})
        with db.write(engine) as conn:
            conn.execute(insert(incidents), rows)
            ids = [r.id for r in conn.exec_driver_sql("SELECT id, status FROM incidents ORDER BY id")]
            statuses = dict(conn.exec_driver_sql("SELECT id, status FROM incidents").all())
            for pk in ids:
                done = statuses[pk] == "resolved"
                base = {"incident_id": pk, "pager": "pd", "attempts": 1, "created_at": now, "sent_at": now,
                        "detail": {}, "status": "sent", "settled": int(done)}
                paged.append({**base, "step": "platform", "action": "trigger"})
                if statuses[pk] == "resolved":
                    paged.append({**base, "step": "*", "action": "resolve"})
            conn.execute(insert(pages), paged)
        submitted: list[object] = []
        ctx = SimpleNamespace(engine=engine, settings=settings,
                              work=SimpleNamespace(submit=lambda fn, **kw: submitted.append(fn)))
        timings = []
        for _ in range(args.ticks):
            started = time.perf_counter()
            pager.duty(ctx)  # type: ignore[arg-type]
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        db.dispose(engine)
    print(json.dumps({"bench": "paging_duty", "database": url.split(":")[0], "incidents": args.incidents,
                      "pages": len(paged), "ticks": args.ticks, "sent_during_bench": len(submitted),
                      "p50_ms": round(statistics.median(timings), 2),
                      "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 2),
                      "target_p99_ms": 50}))


if __name__ == "__main__":
    main()
