"""Figures for the Asterisk wire codecs: decode throughput (AudioSocket, AGI, AMI) and Pacer timing accuracy.

    .venv/bin/python benchmarks/protocol_bench.py

A call is 50 AudioSocket frames per second each way, so the parser figure divided by 50 is how many concurrent
calls one core could decode (the real limit is speech recognition, not the wire).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from ivr.agi import AgiParser
from ivr.ami import AmiParser, encode_message
from ivr.audiosocket import AudioSocketParser, Pacer, encode_audio, encode_uuid


def audiosocket_frames_per_s(seconds_of_audio: int = 600, chunk: int = 4096) -> float:
    stream = encode_uuid(uuid.uuid4()) + encode_audio(bytes(320)) * (seconds_of_audio * 50)
    parser = AudioSocketParser()
    t0 = time.perf_counter()
    n = 0
    for i in range(0, len(stream), chunk):
        n += len(parser.feed(stream[i : i + chunk]))
    return n / (time.perf_counter() - t0)


def agi_replies_per_s(count: int = 50000) -> float:
    data = b"agi_network: yes\nagi_network_script: call-route\n\n" + b"200 result=1 (some value) endpos=1234\n" * count
    t0 = time.perf_counter()
    n = len(AgiParser().feed(data))
    return (n - 1) / (time.perf_counter() - t0)


def ami_events_per_s(count: int = 20000) -> float:
    event = encode_message([("Event", "Newchannel"), ("Channel", "PJSIP/test-caller-00000001"),
                            ("Uniqueid", "1764520000.1"), ("CallerIDNum", "13800138000"), ("Exten", "86909000"),
                            ("Context", "from-test-phones"), ("ChannelState", "4")])
    data = b"Asterisk Call Manager/11.0.0\r\n" + event * count
    parser = AmiParser()
    t0 = time.perf_counter()
    n = sum(len(parser.feed(data[i : i + 65536])) for i in range(0, len(data), 65536))
    return (n - 1) / (time.perf_counter() - t0)


async def pacer_timing(seconds: float = 3.0) -> tuple[float, float, float]:
    """Lateness of each frame against its ideal schedule (ms): median, p99, max; and stop() latency."""
    sent: list[float] = []

    async def send(_frame: bytes) -> None:
        sent.append(time.monotonic())

    pacer = Pacer(send, lead_ms=60)
    t0 = time.monotonic()
    await pacer.play(bytes(int(seconds * 16000)))
    # frame i may leave from (i*20 - 60) ms on; report how late it was after that moment
    late = [max(0.0, (t - t0) - max(0.0, i * 0.020 - 0.060)) * 1000 for i, t in enumerate(sent)]
    late.sort()
    return statistics.median(late), late[int(len(late) * 0.99) - 1], late[-1]


async def pacer_stop_latency(trials: int = 20) -> float:
    async def send(_frame: bytes) -> None:
        pass

    worst = 0.0
    for _ in range(trials):
        pacer = Pacer(send)
        task = asyncio.create_task(pacer.play(bytes(16000 * 5)))
        await asyncio.sleep(0.05)
        t = time.monotonic()
        pacer.stop()
        await task
        worst = max(worst, time.monotonic() - t)
    return worst * 1000


def main() -> None:
    fps = audiosocket_frames_per_s()
    print(f"AudioSocket decode: {fps:,.0f} frames/s (= {fps / 50:,.0f} calls' inbound 8 kHz audio per core)")
    print(f"AGI reply decode:   {agi_replies_per_s():,.0f} replies/s")
    print(f"AMI event decode:   {ami_events_per_s():,.0f} events/s")
    med, p99, worst = asyncio.run(pacer_timing())
    print(f"Pacer lateness vs schedule: median {med:.2f} ms, p99 {p99:.2f} ms, max {worst:.2f} ms")
    print(f"Pacer stop() -> play() returned: worst {asyncio.run(pacer_stop_latency()):.2f} ms over 20 trials")


if __name__ == "__main__":
    main()
