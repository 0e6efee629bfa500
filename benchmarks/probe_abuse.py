"""Abuse probes against a real `rewardkit serve` process on 127.0.0.1: the figures in docs/reliability.md.

Each probe prints one line of figures. The model is a Llama sequence classifier of tiny shape with
SmolLM2's real tokenizer (built once by bench_model.py), so the server's own costs (parsing,
tokenizing, queueing) dominate, as they do when a server is attacked.

    python benchmarks/probe_abuse.py                # all probes (about 3 minutes on 2 cores)
    python benchmarks/probe_abuse.py --only memory  # one of: memory chunked storm admission overload
                                                    #         bad_input metrics slow_body sigterm
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_model import TINY_SHAPE, build_checkpoint

PROBES = ["memory", "chunked", "storm", "admission", "overload", "bad_input", "metrics", "slow_body", "sigterm"]


def tiny_model() -> Path:
    path = Path.home() / ".cache" / "rewardkit" / "bench" / "tiny-float32"
    if not (path / "config.json").is_file():
        build_checkpoint(path, dtype="float32", shape=TINY_SHAPE)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *flags: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "rewardkit.cli", "serve", str(tiny_model()), "--port", str(self.port)]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen([*cmd, "--log-level", "error", *flags], stdout=self.log, stderr=self.log)
        for _ in range(600):
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit("the server did not start")

    def rss_mib(self, field: str = "VmRSS") -> float:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+) kB", text).group(1)) / 1024

    def metric(self, name: str) -> float:
        found = re.search(rf"^{name} ([0-9.e+-]+)$", httpx.get(self.url + "/metrics").text, re.M)
        return float(found.group(1)) if found else 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def raw_post(port: int, path: str, body: bytes, *, chunked: bool = False, length: int | None = None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body) if length is None else length}"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: rk\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode())
    if chunked:
        for at in range(0, len(body), 1 << 20):
            part = body[at : at + (1 << 20)]
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            except OSError:
                break  # the server answered and closed
    else:
        sock.sendall(body)
    return sock


def status_of(sock: socket.socket) -> int:
    data = sock.recv(4096)
    return int(data.split()[1]) if data else 0


def probe_memory() -> None:
    with Server("--max-chars-per-item", "60000000", "--max-request-bytes", str(80 << 20)) as server:
        text = " ".join(f"word{i % 1000}" for i in range(7_000_000))[: 50 * 1000 * 1000 - 14]  # a 50 MB body
        body = json.dumps({"query": [text]}).encode()
        idle = server.rss_mib()
        started = time.perf_counter()
        r = httpx.post(
            server.url + "/get_reward", content=body, headers={"content-type": "application/json"}, timeout=300
        )
        took = time.perf_counter() - started
        peak = server.rss_mib("VmHWM")
        print(
            f"memory: 50 MB single-string /get_reward -> {r.status_code} in {took:.2f} s; "
            f"peak RSS {peak - idle:.0f} MiB over idle ({(peak - idle) / (len(body) / 2**20):.2f}x the body), "
            f"num_tokens {r.json()['extra_logs']['num_tokens'][0]:.0f}"
        )


def probe_chunked() -> None:
    with Server() as server:
        sock = raw_post(server.port, "/get_reward", b'{"query": ["' + b"x" * (70 << 20) + b'"]}', chunked=True)
        print(f"chunked: 70 MB chunked body (limit 64 MiB) -> {status_of(sock)}")
        sock.close()


def probe_storm() -> None:
    with Server() as server:
        body = json.dumps({"query": [f"abandoned text {i} " + "word " * 200 for i in range(400)]}).encode()
        socks = [raw_post(server.port, "/get_reward", body) for _ in range(10)]
        for _ in range(200):  # until some of it is queued
            time.sleep(0.05)
            if (queued := server.metric("rewardkit_queue_depth")) > 0:
                break
        for sock in socks:
            sock.close()
        time.sleep(0.5)
        after = server.metric("rewardkit_queue_depth")
        started = time.perf_counter()
        httpx.post(server.url + "/get_reward", json={"query": ["one text"]}, timeout=120)
        one = time.perf_counter() - started
        scored = server.metric("rewardkit_sequences_scored_total")
        print(
            f"storm: 10 x 400 texts, closed once queued: {queued:.0f} queued before, {after:.0f} 0.5 s after; "
            f"a 1-text request next took {one * 1000:.0f} ms; {scored:.0f} of 4,001 sequences were scored"
        )


def probe_admission() -> None:
    with Server() as server:
        body = json.dumps({"query": ["short text"] * 100_000}).encode()
        started = time.perf_counter()
        r = httpx.post(server.url + "/get_reward", content=body, headers={"content-type": "application/json"})
        print(f"admission: a 100,000-item list -> {r.status_code} in {(time.perf_counter() - started) * 1000:.0f} ms")


async def _closed_loop(url: str, clients: int, seconds: float, texts: list[str], polite: bool = False) -> dict:
    """``clients`` loops posting ``texts``; ``polite`` ones wait out Retry-After, others retry at once."""
    ok_sequences, refusals, retry_after = 0, [], []
    ends = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=clients)) as client:

        async def one() -> None:
            nonlocal ok_sequences
            while time.perf_counter() < ends:
                started = time.perf_counter()
                try:
                    r = await client.post(url + "/get_reward", json={"query": texts})
                except httpx.TimeoutException:
                    continue
                if r.status_code == 200:
                    ok_sequences += len(texts)
                elif r.status_code == 503:
                    refusals.append(time.perf_counter() - started)
                    retry_after.append(int(r.headers.get("retry-after", 0)))
                    if polite:
                        await asyncio.sleep(retry_after[-1])

        await asyncio.gather(*(one() for _ in range(clients)))
    return {"rate": ok_sequences / seconds, "refusals": refusals, "retry_after": retry_after}


def probe_overload() -> None:
    texts = [f"request text {i} " + "word " * 80 for i in range(16)]
    with Server("--max-queue", "256") as server:
        base = asyncio.run(_closed_loop(server.url, 4, 20, texts))
        for polite in (False, True):
            over = asyncio.run(_closed_loop(server.url, 40, 20, texts, polite))
            p50 = statistics.median(over["refusals"]) * 1000 if over["refusals"] else float("nan")
            print(
                f"overload ({'clients wait out Retry-After' if polite else 'clients retry at once'}): "
                f"4 clients {base['rate']:.0f} seq/s; 40 clients {over['rate']:.0f} seq/s useful "
                f"({over['rate'] / base['rate']:.0%}), {len(over['refusals'])} refusals, 503 p50 {p50:.1f} ms, "
                f"Retry-After {min(over['retry_after'], default=0)}-{max(over['retry_after'], default=0)} s"
            )


BAD = [
    b'{"query": ["\\ud800"]}',
    b'{"query": "x", "objective": "\xc2\xb2"}',
    b'{"query": ["x"], "objective": "' + b"9" * 5000 + b'"}',
    b'{"query": []}',
    b'{"query": [1, 2]}',
    b'{"query": null}',
    b"[" * 50_000 + b"]" * 50_000,
    b'{"query": ["x"], "labels": [' + b"9" * 5000 + b"]}",
    b'{"query": ["\xff"]}',
    b"not json",
    b"",
    b'{"messages": [{"role": "bot", "content": "x"}]}',
    b'{"messages": [{"role": "user", "content": 5}]}',
    b'{"conversations": []}',
    b'{"prompt": "q", "responses": ["a"]}',
    b'{"prompt": "q", "candidates": []}',
    b'{"prompt": "q", "responses": ["a", "b"], "method": "swiss"}',
    b'{"query": ["x"], "objective": -1}',
    b'{"query": [' + b'"x",' * 5000 + b'"x"]}',
]


def probe_bad_input() -> None:
    routes = ["/get_reward", "/score", "/compare", "/rank", "/best_of_n"]
    with Server() as server:
        statuses, no_kind = [], 0
        for route in routes:
            for body in BAD:
                r = httpx.post(server.url + route, content=body, headers={"content-type": "application/json"})
                statuses.append(r.status_code)
                no_kind += r.status_code >= 400 and "error" not in r.json()
        for method, path in (("GET", "/nope"), ("DELETE", "/get_reward"), ("HEAD", "/health"), ("PUT", "/metrics")):
            r = httpx.request(method, server.url + path)
            statuses.append(r.status_code)
            no_kind += r.status_code >= 400 and "error" not in r.json()
        for header in (b"Bearer \xe9\xff", b"Bearer", b"Basic abc"):
            r = httpx.post(server.url + "/get_reward", json={"query": ["x"]}, headers=[(b"authorization", header)])
            statuses.append(r.status_code)
    five = sum(s >= 500 for s in statuses)
    print(f"bad input: {len(statuses)} requests, {five} answered 5xx, {no_kind} without an 'error' kind")


def probe_metrics() -> None:
    with Server() as server, httpx.Client() as client:
        client.get(server.url + "/metrics")  # its own series exist from here on
        sizes = []
        for count in (1_000, 19_000):
            for _ in range(count):
                client.get(server.url + "/" + "".join(random.choices("abcdefghij", k=12)))
            sizes.append(len(client.get(server.url + "/metrics").content))
    print(f"metrics: /metrics {sizes[0]} bytes after 1,000 random-path GETs, {sizes[1]} after 20,000")


def probe_slow_body() -> None:
    with Server("--body-timeout", "2") as server:
        socks = [raw_post(server.port, "/get_reward", b'{"query": ', length=1000) for _ in range(300)]
        time.sleep(3)
        answered = 0
        for sock in socks:
            sock.settimeout(5)
            with contextlib.suppress(OSError):
                answered += status_of(sock) == 408
            sock.close()
    print(f"slow body: 300 connections sending 10 of 1,000 bytes: {answered} answered 408 after --body-timeout 2")


def probe_sigterm() -> None:
    with Server() as server:
        body = json.dumps({"query": [f"text {i} " + "word " * 60 for i in range(100)]}).encode()
        socks = [raw_post(server.port, "/get_reward", body) for _ in range(10)]
        time.sleep(1)
        for sock in socks:
            sock.close()
        started = time.perf_counter()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(60)
        took = time.perf_counter() - started
        print(f"sigterm: with 1,000 abandoned sequences queued, the process exited in {took:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=PROBES, action="append", help="run these probes only")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in args.only or PROBES:
        globals()[f"probe_{name}"]()


if __name__ == "__main__":
    main()
