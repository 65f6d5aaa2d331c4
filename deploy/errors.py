"""The one error a bundle build stops with; its message says what to do."""


class BundleError(Exception):
    """A bundle cannot be written as asked (no model, a model with random weights, a forbidden wheel)."""
