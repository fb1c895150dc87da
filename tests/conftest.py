"""Shared fixtures: one real site environment (build worker + Chromium) per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import netguard
from webgen.core.env import apply_offline_env
from webgen.core.settings import Settings
from webgen.feedback.site.environment import SiteEnvironment


def pytest_configure(config: pytest.Config) -> None:
    apply_offline_env()
    netguard.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if netguard.violations:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if netguard.violations:
        terminalreporter.write_line(
            f"NETWORK GUARD: {len(netguard.violations)} attempt(s) to leave loopback:", red=True
        )
        for attempt in netguard.violations[:20]:
            terminalreporter.write_line(f"  {attempt}", red=True)


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The user's settings (WEBGEN_* env), so the scaffold cache that setup installed is reused."""
    return Settings().updated(site={"page_timeout_s": 5.0})


@pytest.fixture(scope="session")
def env(settings: Settings) -> Iterator[SiteEnvironment]:
    with SiteEnvironment(settings) as environment:
        yield environment
