"""The columns of the tables the engine writes, and the parts of a run row the batch statements
return (what their answers and the commit hooks read)."""

from __future__ import annotations

TASK_COLUMNS = frozenset(
    """id identifier title description status blocked_reason blocker priority scope workspace_id owner_kind
    owner_ref created_by_kind created_by_ref origin_kind origin_ref parent_task_id network_channel metadata
    approval_policy approval_state draft max_attempts attempt_limit attempts backoff_strategy backoff_seconds
    deadline timeout_seconds dedupe_key concurrency_key required_capabilities result error source ext
    event_seq created_at updated_at started_at closed_at last_activity_at concurrency_limit rate_limit_key
    rate_limit_per_minute""".split()
)
RUN_COLUMNS = frozenset(
    """id task_id attempt status held priority network_channel workspace_id assignee concurrency_key
    required_capabilities available_at queued_at claimed_at started_at ended_at heartbeat_at lease_until
    lease_seconds timeout_at deadline dedupe_key claimed_by_kind claimed_by_ref claim_token_hash session_id
    idempotency_key terminal_key origin_kind origin_ref metadata result error input_tokens output_tokens total_cost
    cost_currency tool_call_count turn_count last_event_type last_activity_at model provider
    channel_activity_at output_length output_bytes concurrency_limit rate_limit_key rate_limit_per_minute""".split()
)
# What complete_batch returns of each run: what a lease (the answer) and the commit hooks (metrics,
# logs: run_transitions) read. Returning whole rows cost SQLite ~7 us a run.
COMPLETED_RUN_COLUMNS = frozenset(
    """id task_id attempt status workspace_id network_channel claim_token_hash claimed_by_kind claimed_by_ref
    claimed_at queued_at heartbeat_at lease_until ended_at session_id error channel_activity_at""".split()
)
# What claim_take returns of each run: those, plus the rest of a claim's run record (views.run_record).
CLAIMED_RUN_COLUMNS = COMPLETED_RUN_COLUMNS | frozenset(
    "started_at available_at idempotency_key metadata origin_kind origin_ref result timeout_at".split())
EVENT_COLUMNS = ("task_id", "sequence", "run_id", "event_type", "actor_kind", "actor_ref", "origin_kind",
                 "origin_ref", "payload", "created_at")
