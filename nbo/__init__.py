"""nbo: next-best-offer and customer-risk service for retail banks."""

__version__ = "0.1.0"
