"""The two published serving recipes rewardkit is compared with, each a small FastAPI app.

Each runs as its own process, started by the benchmark with ``python -m baselines.<name>``.
"""
