"""Shared pytest fixtures. Fixture modules are plugins so each starts its equipment once per session."""

pytest_plugins = ["tests.sshfleet"]
