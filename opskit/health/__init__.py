"""Fleet health checks."""
