"""Every store of the service, opened once from the settings (`open_stores`)."""

from checkpointing.stores import Stores, StoreUnavailable, open_stores

__all__ = ["StoreUnavailable", "Stores", "open_stores"]
