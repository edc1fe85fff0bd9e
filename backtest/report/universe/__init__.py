"""The universe run's pictures and comparison: report.html (``page``) and `wfbt compare`'s tables (``comparison``)."""
