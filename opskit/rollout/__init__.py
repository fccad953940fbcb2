"""Fleet-wide container rollouts on top of :mod:`opskit.container.recreate`: volumes, log rotation, audit."""
