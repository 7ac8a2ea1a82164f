"""Shared pytest configuration."""

pytest_plugins = ["tests.sshd_fixture"]
