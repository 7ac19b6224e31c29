"""Task ids and identifiers. Ids of new tasks and runs are plain UUIDs; a task also has an
identifier people read (``TL-42``, a backlog's ``MKT-001``). Older ``task_<hex>`` ids keep working."""

from __future__ import annotations

import re
import uuid

IDENTIFIER_RE = re.compile(r"^[A-Z][A-Z0-9]{0,9}-[0-9]+$")


def new_uuid() -> str:
    return str(uuid.uuid4())


def looks_like_identifier(value: object) -> bool:
    return isinstance(value, str) and IDENTIFIER_RE.match(value) is not None
