"""The one exception type the data layer raises for bad or missing data."""


class DataError(ValueError):
    """Data that is missing, corrupt or of the wrong shape; the message says how to fix it."""
