"""Readiness probe: is every host ready for the nodes the inventory places there (SSH, Docker, images, ports)?"""

from opskit.probe.plan import NEEDS, PortCheck, listen_port, operations_port, port_checks
from opskit.probe.probe import ProbeOptions, probe_fleet

__all__ = ["NEEDS", "PortCheck", "ProbeOptions", "listen_port", "operations_port", "port_checks", "probe_fleet"]
