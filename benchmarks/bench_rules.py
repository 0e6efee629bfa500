"""What reward functions cost beside the model: the built-in rules run by the worker pool, and
/get_reward with and without them, in one run.

    python benchmarks/bench_rules.py [--items 512] [--repeats 3]

(1) RulePool items/s for each built-in rule (math, format, length) on GSM8K-style answers built from
HH-RLHF texts with numbers in them, against calling the same function in-process (the pool's price:
a pickled round trip to a worker per item). (2) POST /get_reward on the SmolLM2-135M-shaped
classifier bench_serving.py builds, in-process over ASGI: the model alone, and the model with
math+format+length beside it (they run at the same time as the model). Medians of --repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_model import ensure_model
from workloads import Truncator, load_dialogues


def answers(n: int) -> tuple[list[str], list[str]]:
    """HH-RLHF text ending in a worked sum and a GSM8K-style final answer; two labels in three match."""
    texts, labels = [], []
    for i, row in enumerate(load_dialogues()[:n]):
        a, b = i % 97, i % 13
        texts.append(f"{row['chosen'][-300:]}\nSo the total is {a} + {b} = {a + b}.\n#### {a + b}")
        labels.append(str(a + b if i % 3 else a + 1))
    return texts, labels


def median_rate(count: int, runs: list[float]) -> float:
    return count / statistics.median(runs)


async def pool_rates(items: int, repeats: int) -> None:
    from rewardkit.config import RewardsConfig
    from rewardkit.rules import RulePool, load_rule, samples_from

    texts, labels = answers(items)
    samples = samples_from(texts, None, labels)
    for name in ("math", "format", "length"):
        rule = load_rule(name)
        start = time.perf_counter()
        for s in samples:
            rule.score_one(s)
        direct = items / (time.perf_counter() - start)
        pool = RulePool([name], RewardsConfig())
        pool.start()
        try:
            await pool.score(samples[:8])  # warm-up
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                await pool.score(samples)
                runs.append(time.perf_counter() - start)
        finally:
            pool.close()
        print(f"{name:<7} in-process {direct:9.0f} items/s   pool (2 workers) {median_rate(items, runs):9.0f} items/s")


async def server_rates(requests: int, repeats: int) -> None:
    import httpx

    from rewardkit.config import RewardsConfig
    from rewardkit.models import load_model
    from rewardkit.serving import build

    path = ensure_model(None, "float32")
    model = load_model(path)
    cut = Truncator(model.tokenizer, 256)
    texts, labels = answers(requests)
    texts = [cut.cut(t)[0] for t in texts]
    rates = {}
    for name, config in (
        ("model", None),
        ("model + math,format,length", RewardsConfig(reward_fn=["math", "format", "length"])),
    ):
        app = build(model, rewards_config=config)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rk", timeout=600) as c,
        ):
            await c.post("/get_reward", json={"query": texts[:4], "labels": labels[:4]})
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                answers_ = await asyncio.gather(
                    *(c.post("/get_reward", json={"query": [t], "labels": [label]}) for t, label in zip(texts, labels))
                )
                runs.append(time.perf_counter() - start)
                assert all(a.status_code == 200 for a in answers_), answers_[0].text
        rates[name] = median_rate(requests, runs)
        print(f"/get_reward, {name:<28} {rates[name]:7.1f} requests/s ({requests} single-query requests at once)")
    first, second = rates.values()
    print(f"with the rules beside the model: {second / first:.2f}x the model alone")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(pool_rates(args.items, args.repeats))
    asyncio.run(server_rates(args.requests, args.repeats))


if __name__ == "__main__":
    main()
