"""The plain values passed between the layers: a leaf module (it imports nothing of ours).

- ``Row``: one database row as a dict, column name → value (storage returns them, the
  engine reads and changes them, the API shapes them into answers).
- ``Notice``: a wake-up key published when a transaction commits: ``("task", task_id)``
  when a task's events change, ``("runs", "*")`` when claimable work may have appeared.
"""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]
Notice = tuple[str, str]
