"""Service tests check rules, not delivery (tests/integration and tests/e2e do)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from models.db import unit_of_work
from models.tables import OutboxEvent


@pytest.fixture(autouse=True)
def _quiet_outbox() -> Iterator[None]:
    """Mark the events a service test recorded as published, so that a later test's beat
    relay does not send hundreds of them to the stand-in (no worker runs here)."""
    started = datetime.now(UTC) - timedelta(seconds=1)
    yield
    with unit_of_work() as session:
        session.execute(update(OutboxEvent).where(OutboxEvent.published_at.is_(None),
                                                  OutboxEvent.created_at >= started)
                        .values(published_at=datetime.now(UTC)))
