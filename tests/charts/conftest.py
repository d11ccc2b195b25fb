"""Fixtures for the Helm chart: releases rendered by the real Helm library (defined in
``tests.support.charts.chart``).
"""

from tests.support.charts.chart import (
    ephemeral,
    existing_secrets,
    postgresql,
    releases,
    render_chart,
    sqlite,
)

# pytest finds fixtures by name in this module.
__all__ = [
    "ephemeral",
    "existing_secrets",
    "postgresql",
    "releases",
    "render_chart",
    "sqlite",
]
