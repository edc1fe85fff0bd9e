"""The pipeline in memory: the walk-forward schedule, the forecasters trained per fold, trading, devices."""
