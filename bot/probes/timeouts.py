"""How long librdkafka is given for a request or an admin operation."""

from __future__ import annotations

# librdkafka aborts the whole process (`rd_kafka_enq_once_del_source_return: Assertion
# eonce->refcnt > 0`, librdkafka issue #4605, still open in 2.16) when an admin
# operation's own timeout fires while its requests are out: a load drill that starved
# the bot of CPU took it down within seconds, and one thread probing all groups with
# 0.5 s timeouts did too, while 30 s timeouts survived. So librdkafka is given a long
# time, and the bot's waits (`request_timeout_s`, bounded in Python) decide when a
# person is told the cluster did not answer; an abandoned operation ends in the client.


def op_timeout(request_timeout_s: float) -> float:
    """The timeout handed to librdkafka for a request or admin operation."""
    return max(60.0, 4 * request_timeout_s)
