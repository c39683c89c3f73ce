"""Fixtures for real servers, shared by every test module."""

pytest_plugins = [
    "tests.fixtures.broker",
    "tests.fixtures.publisher",
    "tests.fixtures.wiki",
    "tests.fixtures.stores",
    "tests.fixtures.stack",
    "tests.fixtures.browser",
    "tests.fixtures.leaks",
    "tests.fixtures.dovecot",
]
