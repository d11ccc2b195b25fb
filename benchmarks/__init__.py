"""Benchmarks: `python -m benchmarks` runs the `main()` of every `bench_*.py` module (each prints ratios)."""
