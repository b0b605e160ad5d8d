"""Fixtures: the chart rendered with each values file (once per session)."""

from __future__ import annotations

import functools
from typing import Any

import pytest

import manifests
from manifests import RENDERS


@functools.lru_cache(maxsize=None)
def _render(name: str) -> tuple[dict[str, Any], ...]:
    values_file, sets = RENDERS[name]
    return tuple(manifests.render(values_file, sets))


@pytest.fixture(params=sorted(RENDERS), scope="session")
def rendered(request) -> list[dict[str, Any]]:
    """Every document of one render (parametrized over RENDERS)."""
    return list(_render(request.param))


@pytest.fixture(scope="session")
def renders() -> dict[str, list[dict[str, Any]]]:
    return {name: list(_render(name)) for name in RENDERS}
