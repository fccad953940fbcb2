"""Container lifecycle: recreate a node's container safely (replace, volume and log-rotation rollouts).

``config`` inspect -> model and comparisons, ``docker`` the CLI on a host, ``recreate`` the engine,
``gate`` the health gate, ``plan`` ordering/batches/quorum guard, ``compose`` the compose file edit,
``replace`` and ``logs`` the front-door functions. See docs/containers.md.
"""
