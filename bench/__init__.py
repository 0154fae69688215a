"""Benchmarks: one command each, printing a table of medians (see README.md)."""
