"""The RabbitMQ half of /replay-dlq (the mechanism is described in bot.actions.replay).

The replay covers a *window*: the first W messages of the DLQ when it was planned
(W ends at the N-th match when --limit is given). Messages are consumed from the head
on one transactional channel; each match is republished (same body and properties,
plus the ``x-incidentbot-replay`` header) and acked; non-matching messages are left
unacked and go back to their original places when the channel closes, so they stay in
order. Each transaction also publishes a progress marker (``{"moved": n}``) to a
durable queue of the replay's own, of max length 1, so the broker holds, atomically
with the moves, how many were moved. Because unmoved messages always return to their
places, the part of the window still to do after m moves is the DLQ's first W - m
messages, which is all a resume needs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import BasicProperties

from bot.actions.base import ActionContext, ActionError, Plan, Progress, ProgressFn, Refusal, Row, Verification, plural
from bot.actions.rabbit_dead import (
    WINDOW_CAP,
    Delivery,
    describe,
    fingerprint,
    look,
    progress_queue,
    properties,
    route_text,
    target,
)
from bot.actions.rabbit_util import connect, mgmt, queue_counts, routes_somewhere, vhost_path
from bot.actions.replay_guard import guard_totals, replay_count
from bot.actions.replay_spec import ReplaySpec, matches
from bot.actions.replay_store import ReplayRecord, beat
from bot.probes import rabbitmq
from bot.probes.dlq_models import decode_text, preview


def plan(ctx: ActionContext, cluster: str, spec: ReplaySpec) -> Plan:
    try:
        snap = rabbitmq.rabbit_queue_snapshot(ctx.clients, cluster, spec.dlq, sample_size=0)
    except (rabbitmq.QueueNotFound, rabbitmq.RabbitUnavailable) as exc:
        raise ActionError(str(exc)) from None
    to_kind = None
    if spec.to is not None:
        if mgmt(ctx, cluster, f"exchanges/{vhost_path(ctx, cluster, spec.to)}") is not None:
            to_kind = "exchange"
        elif mgmt(ctx, cluster, f"queues/{vhost_path(ctx, cluster, spec.to)}") is not None:
            to_kind = "queue"
        else:
            raise ActionError(f"There is no exchange or queue named {spec.to} on RabbitMQ {cluster}.")
    refusals: list[Refusal] = []
    stall = max(3.0, ctx.clients.settings.rabbitmq[cluster].request_timeout_s)
    connection = connect(ctx, cluster)
    try:
        version = decode_text((connection._impl.server_properties or {}).get("version"))
        blocker = rabbitmq.sampling_blocker(snap.type, snap.arguments, version)
        counts = queue_counts(connection, spec.dlq)
        depth, consumers = counts if counts else (0, 0)
        if blocker:
            refusals.append(Refusal(reason=f"{blocker} A replay reads the queue the same way, so it is refused."))
        if consumers:
            refusals.append(Refusal(reason=(f"{plural(consumers, 'consumer')} read {spec.dlq}: stop them first. A "
                                            f"replay must be the only reader so that what moves is what was planned.")))
        looked = [] if refusals else look(connection, spec.dlq, min(depth, WINDOW_CAP), stall)
    except pika.exceptions.AMQPError as exc:
        raise ActionError(f"Reading {spec.dlq} failed ({type(exc).__name__}: {exc}).") from None
    finally:
        if connection.is_open:
            connection.close()
    guard = ctx.clients.settings.dlq_hygiene
    rules = {"to": spec.to, "to_kind": to_kind, "route": spec.route, "count_header": guard.replay_count_header,
             "max_replays": guard.max_replays, "parking": guard.parking_for(spec.dlq)}
    chosen: list[tuple[int, tuple[str, str] | None, str]] = []
    parked, came_back = 0, 0
    examples: dict[str, str | None] = {}
    samples: list[dict[str, Any]] = []
    for position, (_method, props, body) in enumerate(looked):
        pattern, cls, msg = describe(ctx, props.headers)
        if not matches(spec.pattern, pattern, cls, msg):
            continue
        where, parking = target(props.headers, rules)
        parked += parking
        came_back += replay_count(props.headers, guard.replay_count_header) > 0
        chosen.append((position, where, pattern))
        examples.setdefault(pattern, msg)
        if len(samples) < 5:
            samples.append({"position": position, "pattern": pattern, "message_id": props.message_id,
                            "preview": preview(body, ctx.clients.settings.dlq.preview_chars)})
        if spec.limit is not None and len(chosen) >= spec.limit:
            break
    window = (chosen[-1][0] + 1 if chosen else 0) if spec.limit is not None else len(looked)
    groups: Counter[tuple[str, str]] = Counter((p, route_text(r)) for _, r, p in chosen)
    unrouted = sum(1 for _, r, _ in chosen if r is None)
    if unrouted:
        refusals.append(Refusal(reason=f"{plural(unrouted, 'message')} carry no x-death header to say where they came "
                                       f"from: give --to, or leave them out with --pattern."))
    park_route = ("", rules["parking"])
    for exchange, key in sorted({r for _, r, _ in chosen if r is not None and r != park_route}):
        why = routes_somewhere(ctx, cluster, exchange, key)
        if why:
            refusals.append(Refusal(reason=f"{why} Nothing is moved, so nothing is lost."))
    rows = [Row(key=f"{pattern} -> {where}", values={"pattern": pattern, "to": where, "messages": n},
                info={"example": examples.get(pattern)}, severity=n)
            for (pattern, where), n in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))]
    warnings = [f"Messages that are not replayed ({plural(window - len(chosen), 'message')} in the window) stay in "
                f"{spec.dlq} in their order."]
    if depth > WINDOW_CAP:
        warnings.append(f"Only the first {WINDOW_CAP:,} of {depth:,} messages are in this replay (RabbitMQ's prefetch "
                        f"limit); run it again for the rest.")
    if spec.route == "exchange" and spec.to is None:
        warnings.append("--route exchange republishes to the original exchange: every queue bound there gets the "
                        "message again, not only the one it died in.")
    if parked:
        warnings.append(f"{plural(parked, 'message')} came back after {guard.max_replays} replays: "
                        f"{'it goes' if parked == 1 else 'they go'} to the parking queue {rules['parking']} "
                        f"(made if missing), not round again.")
    destinations = sorted({where for _, where in groups})
    return Plan(
        kind="replay_dlq", broker="rabbitmq", cluster=cluster, target=spec.dlq,
        params={"spec": spec.model_dump(mode="json")},
        summary=(f"Move {plural(len(chosen), 'message')} from RabbitMQ DLQ {spec.dlq} to "
                 f"{', '.join(destinations) or 'nowhere'}, with the DLQ ack in the same transaction as the publish"
                 + (f"; {parked:,} of them parked after {guard.max_replays} replays." if parked else ".")),
        columns=["pattern", "to", "messages"], rows=rows, warnings=warnings, refusals=refusals, samples=samples,
        totals={"messages": len(chosen), "dlq_depth": depth, "window": window, "not_matching": window - len(chosen),
                **guard_totals(parked, came_back)},
        details={"dlq": spec.dlq, "planned": len(chosen), "window": window, "pattern": spec.pattern, **rules,
                 "parked": parked,
                 "routes": sorted([list(r) for r in {r for _, r, _ in chosen if r is not None and r != park_route}]),
                 "head": fingerprint(looked[0][1], looked[0][2]) if looked else None})


class Run:
    """One execution (or resumption) of a RabbitMQ replay plan."""

    def __init__(self, ctx: ActionContext, plan: Plan, record: ReplayRecord) -> None:
        self.ctx, self.plan, self.record = ctx, plan, record
        self.dlq: str = plan.details["dlq"]
        self.settings = ctx.clients.settings.rabbitmq[plan.cluster]
        self.stall_s = max(5.0, self.settings.request_timeout_s * 2)
        self.marker_queue = progress_queue(record.id)
        self.moved = record.moved  # the last count the broker confirmed, for a failure's sentence
        self.parked = 0  # of the moved, how many went to the parking queue (the marker keeps it too)

    def moved_so_far(self, connection: BlockingConnection) -> int:
        """The broker's count of moved messages (the last marker), handed back in place;
        0 when no batch was ever committed (the marker queue is made with the first)."""
        channel = connection.channel()
        try:
            channel.queue_declare(self.marker_queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                return 0
            raise
        method, _props, body = channel.basic_get(self.marker_queue, auto_ack=False)
        channel.close()
        if method is None:
            return 0
        mark = json.loads(body)
        self.parked = int(mark.get("parked", 0))
        return int(mark["moved"])

    def go(self, *, progress: ProgressFn | None, abort: threading.Event, batch_size: int, progress_every: int,
           on_batch: Callable[[int], None] | None) -> tuple[str, int, str, list[Refusal]]:
        planned, window = int(self.plan.details["planned"]), int(self.plan.details["window"])
        connection = connect(self.ctx, self.plan.cluster)
        try:
            moved = self.moved = self.moved_so_far(connection)
            if moved >= planned:
                return "completed", moved, f"Moved {plural(moved, 'message')} from {self.dlq}.", []
            refusals = self._check(connection, moved, window)
            if refusals:
                return "refused", moved, refusals[0].reason, refusals
            return self._move(connection, moved, planned, window - moved, progress=progress, abort=abort,
                              batch_size=batch_size, progress_every=progress_every, on_batch=on_batch)
        except pika.exceptions.AMQPError as exc:
            return "failed", self.moved, (f"RabbitMQ failed mid-replay ({type(exc).__name__}); the open batch "
                                          f"was rolled back by the broker and the replay can be resumed."), []
        finally:
            if connection.is_open:
                connection.close()  # unacked (non-matching, beyond the window) messages go back in place

    def _check(self, connection: BlockingConnection, moved: int, window: int) -> list[Refusal]:
        # After a crash the broker needs a moment to notice the dead connection, drop its
        # consumer and put its unacked messages back: wait for that before judging.
        deadline = time.monotonic() + self.stall_s
        while True:
            counts = queue_counts(connection, self.dlq)
            if counts is None:
                return [Refusal(reason=f"Queue {self.dlq} no longer exists.")]
            depth, consumers = counts
            if (consumers == 0 and depth >= window - moved) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        refusals = []
        if consumers:
            refusals.append(Refusal(reason=f"{plural(consumers, 'consumer')} now read {self.dlq}: stop them first."))
        if depth < window - moved:
            refusals.append(Refusal(reason=(
                f"{self.dlq} holds {plural(depth, 'message')}, fewer than the {window - moved:,} the plan still "
                f"covers: someone consumed or purged it; plan again.")))
        for exchange, key in self.plan.details.get("routes", []):
            why = routes_somewhere(self.ctx, self.plan.cluster, exchange, key)
            if why:
                refusals.append(Refusal(reason=f"{why} Nothing more is moved, so nothing is lost."))
        first_run = moved == 0 and not self.record.progress.get("started")
        if first_run and not refusals and self.plan.details.get("head"):
            head = look(connection, self.dlq, 1, self.stall_s)
            if not head or fingerprint(head[0][1], head[0][2]) != self.plan.details["head"]:
                refusals.append(Refusal(reason=(f"The first message of {self.dlq} is not the one the plan started "
                                                f"with: the queue changed since; plan again.")))
        if first_run and not refusals:
            parks = self.plan.details.get("parked")
            parking = queue_counts(connection, self.plan.details["parking"]) if parks else None
            beat(self.ctx.engine, self.record.id, moved=0, progress={
                "started": True, "depth_before": depth, "parking_before": parking[0] if parking else 0})
        return refusals

    def _move(self, connection: BlockingConnection, moved: int, planned: int, remaining: int, *,
              progress: ProgressFn | None, abort: threading.Event, batch_size: int, progress_every: int,
              on_batch: Callable[[int], None] | None) -> tuple[str, int, str, list[Refusal]]:
        details = self.plan.details
        filtering = details["pattern"] is not None
        channel = connection.channel()
        # Max length 1: each batch's marker replaces the one before, in the same transaction.
        channel.queue_declare(self.marker_queue, durable=True, arguments={"x-max-length": 1})
        if details.get("parked"):
            channel.queue_declare(details["parking"], durable=True)  # the loop guard's queue, made on first use
        channel.tx_select()
        # Held (non-matching) messages and acks not yet committed both count against the
        # prefetch: it must cover the whole window when filtering, two batches otherwise.
        prefetch = remaining if filtering else max(1, min(remaining, batch_size * 2))
        channel.basic_qos(prefetch_count=min(WINDOW_CAP, prefetch))
        returned: list[Delivery] = []
        channel.add_on_return_callback(lambda _c, m, p, b: returned.append((m, p, b)))  # type: ignore[arg-type]
        buffer: deque[Delivery] = deque()
        channel.basic_consume(self.dlq, lambda _c, m, p, b: buffer.append((m, p, b)), auto_ack=False, exclusive=True)
        scanned, reported = 0, moved
        held = False  # once a message is left unacked, acks must name each delivery
        while moved < planned and scanned < remaining:
            if abort.is_set():
                return "aborted", moved, f"Aborted after {plural(moved, 'message')} of {planned:,}.", []
            if not self._fill(connection, buffer, min(batch_size, remaining - scanned)):
                return "failed", moved, (f"{self.dlq} stopped delivering with {plural(remaining - scanned, 'message')} "
                                         f"of the window still to come; resume to continue."), []
            sent, last_tag = 0, 0
            while buffer and sent < batch_size and moved + sent < planned and scanned < remaining:
                method, props, body = buffer.popleft()
                scanned += 1
                pattern, cls, msg = describe(self.ctx, props.headers)
                where, parking = target(props.headers, details)
                if not matches(details["pattern"], pattern, cls, msg) or where is None:
                    if not held and last_tag:
                        channel.basic_ack(last_tag, multiple=True)  # the moves before the first hold
                    held = True
                    continue  # stays unacked: back in its place when the channel closes
                header = details.get("count_header")
                count = None if parking or not header else (header, replay_count(props.headers, header) + 1)
                channel.basic_publish(where[0], where[1], body,
                                      properties(props, self.record.id, self.settings.username, count), mandatory=True)
                self.parked += parking
                if held:
                    channel.basic_ack(method.delivery_tag)
                last_tag = method.delivery_tag
                sent += 1
            if not held and last_tag:
                # Delivery tags grow in delivery order and nothing before this one is held:
                # one ack covers the batch (and is in the same transaction).
                channel.basic_ack(last_tag, multiple=True)
            self._mark(channel, moved + sent)
            if on_batch is not None:
                on_batch(sent)  # fault-injection hook for tests: runs inside the open transaction
            channel.tx_commit()
            moved = self.moved = moved + sent
            connection.process_data_events(time_limit=0)  # basic.return frames arrive before commit-ok
            if returned:
                moved = self._put_back(channel, returned, moved)
                return "failed", moved, (f"{plural(len(returned), 'message')} could not be routed and "
                                         f"{'was' if len(returned) == 1 else 'were'} put back at the end of "
                                         f"{self.dlq}."), []
            if not beat(self.ctx.engine, self.record.id, moved=moved):
                return "failed", moved, "Another process took this replay over; this one stopped.", []
            if progress is not None and (moved - reported >= progress_every or moved >= planned):
                reported = moved
                progress(Progress(done=moved, total=planned,
                                  message=f"Moved {moved:,} of {planned:,} from {self.dlq}{self._parked()}."))
        return "completed", moved, f"Moved {plural(moved, 'message')} from {self.dlq}{self._parked()}.", []

    def _parked(self) -> str:
        return f" ({self.parked:,} parked in {self.plan.details['parking']})" if self.parked else ""

    def _fill(self, connection: BlockingConnection, buffer: deque[Delivery], need: int) -> bool:
        started = time.monotonic()
        while len(buffer) < need:
            connection.process_data_events(time_limit=0.01)
            waited = time.monotonic() - started
            if buffer and waited > 0.5:
                return True  # work with what came
            if waited > self.stall_s:
                return bool(buffer)
        return True

    def _mark(self, channel: BlockingChannel, moved: int) -> None:
        channel.basic_publish("", self.marker_queue, json.dumps({"moved": moved, "parked": self.parked}).encode(),
                              BasicProperties(delivery_mode=2, content_type="application/json"))

    def _put_back(self, channel: BlockingChannel, returned: list[Delivery], moved: int) -> int:
        """Unroutable messages (acked in the DLQ by the same commit) go back to its tail."""
        for _method, props, body in returned:
            channel.basic_publish("", self.dlq, body, props)
        moved -= len(returned)
        self._mark(channel, moved)
        channel.tx_commit()
        returned.clear()
        return moved

    def finish(self) -> None:
        """Drop the marker queue once the database says completed (it is then the record)."""
        connection = connect(self.ctx, self.plan.cluster)
        try:
            connection.channel().queue_delete(self.marker_queue)
        except pika.exceptions.AMQPError:
            pass  # an orphan marker queue is harmless; the row says completed
        finally:
            if connection.is_open:
                connection.close()


def verify(ctx: ActionContext, plan: Plan, record: ReplayRecord) -> Verification:
    """Moved (the broker's marker, recorded at completion) = planned, and the DLQ did not
    lose more than was moved."""
    planned = int(plan.details["planned"])
    parked = int(plan.details.get("parked", 0))
    connection = connect(ctx, plan.cluster)
    try:
        counts = queue_counts(connection, plan.details["dlq"])
        parking = queue_counts(connection, plan.details["parking"]) if parked else None
    finally:
        if connection.is_open:
            connection.close()
    before = record.progress.get("depth_before")
    now_depth = counts[0] if counts else None
    rows = [Row(key=plan.details["dlq"], values={"planned": planned, "moved": record.moved, "depth_before": before,
                                                 "depth_now": now_depth})]
    mismatches = []
    if record.moved != planned:
        mismatches.append(f"Moved {plural(record.moved, 'message')}; the plan said {planned:,}.")
    if parked:
        went = (parking[0] if parking else 0) - int(record.progress.get("parking_before", 0))
        rows.append(Row(key=plan.details["parking"], values={"parked_planned": parked, "arrived": went}))
        if went != parked:
            mismatches.append(f"{plural(went, 'message')} arrived in the parking queue {plan.details['parking']}; "
                              f"the plan parks {parked:,}.")
    if before is not None and now_depth is not None and now_depth < before - record.moved:
        mismatches.append(f"{plan.details['dlq']} holds {now_depth:,}, fewer than {before:,} - {record.moved:,} moved: "
                          f"something else took messages from it.")
    if mismatches:
        return Verification(ok=False, rows=rows, mismatches=mismatches, message=mismatches[0])
    arrived = "" if before is None or now_depth is None else (
        f" {now_depth - (before - record.moved):,} arrived since." if now_depth > before - record.moved else "")
    parked_text = f" {parked:,} of them parked in {plan.details['parking']}." if parked else ""
    return Verification(ok=True, rows=rows, message=f"Moved {plural(planned, 'message')} as planned;{parked_text} "
                                                    f"{plan.details['dlq']} now holds {now_depth:,}.{arrived}")
