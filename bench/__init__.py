"""Benchmarks: each module runs as a script and prints its figures on its last line.

A package too, so that a test can run a small scenario of one (tests/trust runs the
adversarial simulation) without loading it by file path.
"""
