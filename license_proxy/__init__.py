"""The license proxy: validates the license and meters usage (metadata only)."""

__version__ = "0.1.0"
