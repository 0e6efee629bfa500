"""HTTP front: schemas (validation), routes, app factory, metrics, auth. Imported only by the CLI
and tests; serves anything that fits scoring.protocols.ScoringService and knows no torch."""

from rewardkit.serving.app import build, build_ensemble, create_app

__all__ = ["build", "build_ensemble", "create_app"]
