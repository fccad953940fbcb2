"""Invoke entry point: `inv --list` shows opskit's namespaced tasks."""

from opskit.tasks import ns  # noqa: F401  (Invoke looks for `ns`)
