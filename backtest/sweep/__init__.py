"""Sweeps: the sweep file and its cells, the Dask fan-out of training groups and backtests, the leaderboard."""
