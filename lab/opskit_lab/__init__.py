"""The lab: a real multi-host Fabric-shaped fleet on one machine, for tests and for trying opskit.

Network-namespace hosts with their own sshd, Docker engine and disk; a real BIND,
a real Prometheus, a moto server; small stand-ins for Fabric nodes. See docs/lab.md.
"""
