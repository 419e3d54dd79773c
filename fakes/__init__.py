"""Fakes at the network edge (the OpenAI-compatible stub LLM) for tests and benchmarks.

Product code never imports them (tests/test_layering.py).
"""
