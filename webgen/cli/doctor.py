"""`webgen doctor`'s checks live in :mod:`webgen.feedback.doctor` (the UI's "Check" button uses them too)."""

from __future__ import annotations

from webgen.feedback.doctor import (
    Finding,
    check_chromium,
    check_database,
    check_endpoint,
    check_node,
    check_scaffold,
    diagnose,
)

__all__ = ["Finding", "check_chromium", "check_database", "check_endpoint", "check_node", "check_scaffold", "diagnose"]
