"""Benchmarks of the application, run one at a time with `python bench/run.py NAME [--quick]`.

Each benchmark is a module `bench/<name>.py` exposing `run(quick: bool, progress) -> dict` and is
registered in `bench/run.py`. See docs/benchmarks.md.
"""
