"""Typed tools: pydantic arguments and results, registered by name (`tools.registry`)."""
