"""Prices in: the table of readers, the CSV dialects, dates, the checks, and the network sources with their cache."""
