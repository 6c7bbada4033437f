"""iperf3 -J (JSON) client results: the receiver's view of the whole run, which is what a pass mark judges."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ffinfra.analysis.parsers import ParseError


@dataclass(frozen=True, slots=True)
class Iperf3Result:
    protocol: str
    streams: int
    seconds: float
    sent_gbit: float
    received_gbit: float
    retransmits: int | None
    remote: str


def parse_iperf3(text: str) -> Iperf3Result:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"iperf3 output is not JSON (run it with -J): {exc.msg} at line {exc.lineno}") from None
    if err := data.get("error"):
        raise ParseError(f"iperf3 failed: {err}")
    try:
        start, end = data["start"], data["end"]
        sent, received = end["sum_sent"], end["sum_received"]
        test = start["test_start"]
        remote = start["connecting_to"]["host"]
    except (KeyError, TypeError) as exc:
        raise ParseError(f"iperf3 JSON lacks {exc}: not a TCP client result") from None
    return Iperf3Result(
        protocol=test.get("protocol", "TCP"),
        streams=int(test.get("num_streams", 1)),
        seconds=float(received.get("seconds", 0.0)),
        sent_gbit=float(sent["bits_per_second"]) / 1e9,
        received_gbit=float(received["bits_per_second"]) / 1e9,
        retransmits=sent.get("retransmits"),
        remote=remote,
    )
