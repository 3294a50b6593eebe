"""Static leaderboard site and SAEBench-JSON export, built from result folders only."""

from saebench.leaderboard.site import build_site

__all__ = ["build_site"]
