"""The two published serving recipes rewardkit is compared with, each a small FastAPI app run as its own process."""
