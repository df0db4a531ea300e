"""What the HTTP front does when the bot behind it cannot take what the front has
already answered: the person is told on the response_url, once, and a request is
sent again only when it never reached the bot. A bot of a few lines stands in
here, since the real one does not fail on demand; tests/test_front.py runs the
front with the real bot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bot.app import front as front_module
from bot.app.front import Front
from bot.app.front_process import FrontConfig
from bot.localslack.sender import signature

SECRET = "front-handover-secret"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


def _signed_command(response_url: str) -> tuple[bytes, dict[str, str]]:
    body = urlencode({"command": "/lag", "text": "", "user_id": "U0ALICE", "channel_id": "C0INCIDENTS",
                      "team_id": "T0LOCAL", "response_url": response_url}).encode()
    ts = str(int(time.time()))
    return body, {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
                  "X-Slack-Signature": signature(SECRET, ts, body)}


def run(bot: Handler | None, commands: int = 1, *, queue_limit: int | None = None) -> dict[str, Any]:
    """Send `commands` signed /lag through a front whose bot answers with `bot` (None:
    nothing listens); what the front answered, what the bot was sent, what the person was told."""

    async def go() -> dict[str, Any]:
        told: list[dict[str, Any]] = []
        reached: list[bytes] = []

        async def response_url(request: web.Request) -> web.Response:
            told.append(await request.json())
            return web.Response(text="ok")

        async def backend(request: web.Request) -> web.StreamResponse:
            reached.append(await request.read())
            assert bot is not None
            return await bot(request)

        slack_app = web.Application()
        slack_app.router.add_post("/response/{id}", response_url)
        slack_runner, slack_url = await _serve(slack_app)
        bot_app = web.Application()
        bot_app.router.add_post("/slack/events", backend)
        bot_runner, bot_url = await _serve(bot_app)
        if bot is None:
            await bot_runner.cleanup()  # the port is free again: nothing listens there
        async with aiohttp.ClientSession() as session:
            config = FrontConfig(host="127.0.0.1", port=0, backend=bot_url, signing_secret=SECRET,
                                 max_body_bytes=65536, max_request_bytes=65536)
            front = Front(config, session)
            if queue_limit is not None:
                front.queue = asyncio.Queue(queue_limit)
            front_runner, front_url = await _serve(front.app())
            statuses = []
            for _ in range(commands):
                body, headers = _signed_command(f"{slack_url}/response/1")
                async with session.post(front_url + "/slack/events", data=body, headers=headers) as answer:
                    statuses.append((answer.status, await answer.text()))
            worker = asyncio.create_task(front.forwarder())
            await asyncio.wait_for(front.queue.join(), 30)
            worker.cancel()
            await front_runner.cleanup()
        await slack_runner.cleanup()
        if bot is not None:
            await bot_runner.cleanup()
        return {"answered": statuses, "reached": len(reached), "told": [t["text"] for t in told]}

    return asyncio.run(go())


def test_a_request_the_bot_takes_is_not_told_anything() -> None:
    result = run(lambda request: _ok())
    assert result == {"answered": [(200, "")], "reached": 1, "told": []}


async def _ok() -> web.Response:
    return web.Response(status=200)


def test_a_failure_inside_the_bot_is_told_once_and_never_sent_again() -> None:
    async def failing(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    result = run(failing)
    assert result["answered"] == [(200, "")]
    assert result["reached"] == 1
    assert result["told"] == ["Sorry, that failed inside the bot before it could answer; the error is in its log."]


def test_a_bot_that_is_not_listening_is_tried_again_then_the_person_is_told(monkeypatch: Any) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def quick(delay: float) -> None:
        slept.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(front_module.asyncio, "sleep", quick)
    result = run(None)
    assert result["answered"] == [(200, "")]
    assert [d for d in slept if d] == [0.25, 0.5, 1.0]  # CONNECT_TRIES - 1 waits, doubling (0: asyncio's own)
    assert result["told"] == ["The bot stopped before it could take this request; nothing was done. "
                              "Try again in a minute."]


def test_a_bot_that_drops_the_connection_is_not_sent_the_request_again() -> None:
    async def dropping(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=200)

    result = run(dropping)
    assert result["reached"] == 1
    assert result["told"] == ["The bot did not confirm it took this request; it may or may not have been done. "
                              "Check before trying again."]


def test_a_request_the_bot_finds_stale_is_told_not_done() -> None:
    async def stale(request: web.Request) -> web.Response:
        return web.json_response({"error": "Unauthorized"}, status=401)

    result = run(stale)
    assert result["told"] == ["The bot was too busy to get to this request within five minutes; nothing was done. "
                              "Try again."]


def test_past_the_queue_limit_slack_is_told_to_try_again() -> None:
    result = run(lambda request: _ok(), commands=3, queue_limit=2)
    assert result["answered"][:2] == [(200, ""), (200, "")]
    status, text = result["answered"][2]
    assert status == 503 and "the bot is behind on Slack's requests" in text
    assert result["reached"] == 2
