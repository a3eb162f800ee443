"""Benchmarks on the local cluster (not tests: nothing here asserts timings)."""
