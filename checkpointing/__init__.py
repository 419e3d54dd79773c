"""Where conversations live: the LangGraph checkpointer factory."""

from checkpointing.factory import describe_backend, open_checkpointer

__all__ = ["describe_backend", "open_checkpointer"]
