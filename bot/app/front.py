"""The HTTP front of `incidentbot serve`: a small process that owns the public port,
answers Slack the moment a request's signature and shape are checked, and hands
everything to the bot's own process behind it (started by bot/app/front_process.py).

Why a process of its own: Slack wants an answer within 3 seconds and people expect
one at once, but the bot's process shares one interpreter lock between the alert
storm it stores, the probes it runs and the replies it posts. Under bench/ack.py's
load (100 Slack requests and 50 alert webhooks a second) answers from inside it
waited 46 ms at the median and 238 ms at the 99th percentile, whatever each cost.
An answer from here waits for nothing the bot does.

Answered here: slash commands, button presses (`block_actions`) and events, whose
answer is an empty 200; the bot then runs them as before and posts a command's first
message to its response_url (bot/slack/app.py). Passed through and answered by
the bot: everything else, alert webhooks included (they are answered only once
stored), and Slack's requests whose answer carries content (view submissions with
their errors, options, url_verification).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bot.app.front_process import ACKED_HEADER, FrontConfig
from bot.slack import inbound, signing

log = logging.getLogger("bot.app.front")

SLACK_PATH = "/slack/events"
# Requests handed to the bot at once; more wait in the queue (answered already).
FORWARDERS = 16
# Acknowledged and not yet handed over: past this the front stops acknowledging
# (503), rather than promise work it may never deliver.
QUEUE_LIMIT = 10_000
# How long a hand-over may take before the person is told it may not have happened.
FORWARD_TIMEOUT_S = 60.0
# Tries to reach the bot when it refuses the connection (it is not listening yet, or any more).
CONNECT_TRIES = 4
# On stop: how long the front keeps handing over what it acknowledged.
DRAIN_S = 20.0
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "trailer",
                  "upgrade", "proxy-authorization", "proxy-authenticate", "content-encoding", "date", "server"})


@dataclass
class Handover:
    body: bytes
    headers: dict[str, str]
    query: str
    response_url: str | None
    what: str  # for the log: "slash command /lag", "block_actions"


def answered_here(parsed: dict[str, Any]) -> bool:
    """Whether Slack's answer to this request is empty, whatever the bot does with it."""
    if "type" in parsed:
        # Events too: Slack sends one again when its 200 is more than 3 s away.
        return parsed["type"] in ("block_actions", "event_callback")
    return "command" in parsed


def _what(parsed: dict[str, Any]) -> str:
    return str(parsed["type"]) if "type" in parsed else "slash command"


def _json(status: int, error: str, reason: str, **headers: str) -> web.Response:
    return web.json_response({"error": error, "reason": reason}, status=status, headers=headers)


def _headers(given: Any) -> dict[str, str]:
    return {k: v for k, v in given.items() if k.lower() not in _HOP}


class Front:
    def __init__(self, config: FrontConfig, session: aiohttp.ClientSession,
                 slack: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self.session = session  # to the bot, on the loopback: never through a proxy
        self.outside = slack or session  # to Slack's response_urls: through HTTPS_PROXY when one is set
        self.queue: asyncio.Queue[Handover] = asyncio.Queue(QUEUE_LIMIT)
        self.stopping = False

    # -- answering ----------------------------------------------------------------------

    async def slack(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if len(body) > self.config.max_body_bytes:
            return _json(413, "Request Entity Too Large", f"the limit is {self.config.max_body_bytes} bytes")
        refused = signing.refusal(self.config.signing_secret, body, request.headers)
        if refused:
            return _json(401, "Unauthorized", refused)
        try:
            parsed = inbound.check_body(body, request.headers.get("Content-Type"))
        except inbound.BadRequest as exc:
            log.warning("refused a signed Slack request: %s", exc.reason)
            return _json(400, "Bad Request", exc.reason)
        if not answered_here(parsed):
            return await self.passthrough(request, body)
        url = parsed.get("response_url")
        handover = Handover(body, {**_headers(request.headers), ACKED_HEADER: "1"}, request.query_string,
                            url if isinstance(url, str) and url else None, _what(parsed))
        try:
            self.queue.put_nowait(handover)
        except asyncio.QueueFull:
            log.error("%d Slack requests are waiting for the bot; refusing more until it catches up", QUEUE_LIMIT)
            return _json(503, "Service Unavailable", "the bot is behind on Slack's requests; try again shortly",
                         **{"Retry-After": "5"})
        return web.Response(status=200)

    async def passthrough(self, request: web.Request, body: bytes | None = None) -> web.StreamResponse:
        if body is None:
            body = await request.read()
        headers = _headers(request.headers)
        if request.remote:
            headers["X-Forwarded-For"] = request.remote
        try:
            async with self.session.request(request.method, self.config.backend + request.path_qs, data=body,
                                            headers=headers, allow_redirects=False,
                                            timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S)) as answer:
                payload = await answer.read()
                return web.Response(status=answer.status, body=payload, headers=_headers(answer.headers))
        except aiohttp.ClientConnectorError:
            return _json(503, "Service Unavailable", "the bot is starting or stopping; retry shortly",
                         **{"Retry-After": "5"})
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("the bot did not answer %s %s (%s)", request.method, request.path, type(exc).__name__)
            return _json(504, "Gateway Timeout", "the bot did not answer in time; retry later", **{"Retry-After": "30"})

    # -- handing over -------------------------------------------------------------------

    async def forwarder(self) -> None:
        while True:
            handover = await self.queue.get()
            try:
                await self.hand_over(handover)
            except Exception:  # one request's trouble must not stop the hand-overs
                log.exception("could not hand a Slack request to the bot")
            finally:
                self.queue.task_done()

    async def hand_over(self, handover: Handover) -> None:
        url = self.config.backend + SLACK_PATH + (f"?{handover.query}" if handover.query else "")
        for attempt in range(CONNECT_TRIES):
            try:
                async with self.session.post(url, data=handover.body, headers=handover.headers,
                                             timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S)) as answer:
                    await answer.read()
                    status = answer.status
                break
            except aiohttp.ClientConnectorError:
                # Never reached the bot, so nothing was done: safe to try again.
                if self.stopping or attempt == CONNECT_TRIES - 1:
                    log.warning("could not hand a %s to the bot: it is not listening", handover.what)
                    await self.tell(handover, "The bot stopped before it could take this request; nothing was "
                                              "done. Try again in a minute.")
                    return
                await asyncio.sleep(0.25 * 2 ** attempt)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                # It may have been done: never sent twice.
                log.warning("the bot did not finish taking a %s (%s)", handover.what, type(exc).__name__)
                await self.tell(handover, "The bot did not confirm it took this request; it may or may not have "
                                          "been done. Check before trying again.")
                return
        if status >= 500:
            # The bot logged the traceback; the person hears what Slack would have said.
            await self.tell(handover, "Sorry, that failed inside the bot before it could answer; the error is "
                                      "in its log.")
        elif status == 401:
            # The front checked the signature, so the bot found the request too old: it
            # waited over five minutes in the queue, and doing it now would surprise.
            log.warning("a %s waited too long for the bot and was refused as stale", handover.what)
            await self.tell(handover, "The bot was too busy to get to this request within five minutes; nothing "
                                      "was done. Try again.")
        elif status >= 400:
            log.info("the bot refused a %s the front answered (%d)", handover.what, status)

    async def tell(self, handover: Handover, text: str) -> None:
        if handover.response_url is None:
            return
        try:
            async with self.outside.post(handover.response_url, json={"text": text, "response_type": "ephemeral"},
                                         timeout=aiohttp.ClientTimeout(total=10)) as answer:
                await answer.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("could not tell the person on the response_url (%s)", type(exc).__name__)

    # -- running ------------------------------------------------------------------------

    def app(self) -> web.Application:
        limit = self.config.max_request_bytes

        @web.middleware
        async def too_large(request: web.Request, handler: Any) -> web.StreamResponse:
            try:
                return await handler(request)
            except web.HTTPRequestEntityTooLarge:
                return _json(413, "Request Entity Too Large", f"the limit is {limit} bytes")

        app = web.Application(client_max_size=limit + 1, middlewares=[too_large])
        app.router.add_post(SLACK_PATH, self.slack)
        app.router.add_route("*", "/{tail:.*}", self.passthrough)
        return app


def _say(**what: str) -> None:
    sys.stdout.write(json.dumps(what) + "\n")
    sys.stdout.flush()


async def run(config: FrontConfig, stop: asyncio.Event) -> int:
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session, \
            aiohttp.ClientSession(trust_env=True) as slack:
        front = Front(config, session, slack)
        runner = web.AppRunner(front.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, config.host, config.port, backlog=256)
        try:
            await site.start()
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            _say(error=f"http: cannot listen on {config.host}:{config.port} ({why})")
            await runner.cleanup()
            return 2
        host, port = runner.addresses[0][:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        forwarders = [asyncio.create_task(front.forwarder()) for _ in range(FORWARDERS)]
        _say(listening=f"http://{shown}:{port}")
        await stop.wait()
        front.stopping = True
        await site.stop()  # no new connections; what was acknowledged is still handed over
        try:
            await asyncio.wait_for(front.queue.join(), DRAIN_S)
        except asyncio.TimeoutError:
            log.warning("stopped with %d acknowledged Slack requests not handed to the bot", front.queue.qsize())
        for task in forwarders:
            task.cancel()
        await runner.cleanup()
    return 0


def main() -> int:
    line = sys.stdin.buffer.readline()
    if not line:
        return 0  # the bot ended before it started the front
    config = FrontConfig.model_validate_json(line)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=config.log_level, handlers=[handler])
    logging.getLogger("aiohttp").setLevel(logging.WARNING)

    async def start() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def watch_stdin() -> None:
            # The bot closes the pipe to stop the front, and so does the kernel when the bot dies.
            # The raw descriptor: a buffered reader's lock held by this daemon thread at exit
            # is a fatal error for the interpreter.
            while os.read(0, 4096):
                pass
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch_stdin, name="stdin", daemon=True).start()
        # Ctrl-C in a terminal reaches the whole process group: the bot decides when the
        # front stops (it first lets it hand over what it acknowledged). SIGTERM, sent to
        # the group by a service manager, stops it the same way.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        return await run(config, stop)

    return asyncio.run(start())


if __name__ == "__main__":
    sys.exit(main())
