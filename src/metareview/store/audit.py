"""The audit trail: every write of a project adds one ``audit_log`` row in its transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from metareview.store.models import AuditRow


def now() -> dt.datetime:
    """The current time, timezone-aware (UTC), as every stored timestamp is."""
    return dt.datetime.now(dt.UTC)


def audit(s: Session, actor: str, action: str, detail: Mapping[str, Any]) -> None:
    """Add the audit-log row of a write to the session (committed with the write)."""
    s.add(AuditRow(at=now(), actor=actor, action=action, detail=dict(detail)))
