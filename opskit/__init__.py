"""opskit: safe, repeatable, fast operations for Hyperledger Fabric test fleets.

The library is usable without Invoke: ``opskit.inventory`` loads a fleet model,
``opskit.remote`` runs work on its hosts in parallel, ``opskit.output`` renders
results. ``opskit.tasks`` is only a thin Invoke front end over these modules.
"""

__version__ = "0.1.0"
