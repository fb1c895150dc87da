"""Shared fixtures: one real site environment (build worker + Chromium) per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from webgen.env import apply_offline_env
from webgen.feedback.environment import SiteEnvironment
from webgen.settings import Settings


def pytest_configure(config: pytest.Config) -> None:
    apply_offline_env()


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The user's settings (WEBGEN_* env), so the scaffold cache that setup installed is reused."""
    cfg = Settings()
    cfg.site.page_timeout_s = 5.0
    return cfg


@pytest.fixture(scope="session")
def env(settings: Settings) -> Iterator[SiteEnvironment]:
    with SiteEnvironment(settings) as environment:
        yield environment
