"""The one exception type the data layer raises for bad or missing data."""

from autoencoders.errors import DataError

__all__ = ["DataError"]
