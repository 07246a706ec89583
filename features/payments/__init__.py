"""Payment fraud features: one customer's real-time counters and their offline replay."""
