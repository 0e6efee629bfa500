"""HTTP front: schemas (validation), routes, app factory, metrics, auth, the guard every request
passes (middleware.py) and the uvicorn runner with its graceful stop (server.py). Imported only by
the CLI and tests; serves anything that fits scoring.protocols.ScoringService and knows no torch."""

from rewardkit.serving.app import build, build_ensemble, build_from_sources, create_app
from rewardkit.serving.server import run_server

__all__ = ["build", "build_ensemble", "build_from_sources", "create_app", "run_server"]
