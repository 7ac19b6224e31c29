"""Request and response models of the runtime tasks API (seed 004).

Request models forbid unknown fields, so a misspelt field is a 400, not a
silently ignored value. Response models document the shapes in /docs; the
routes build the JSON directly (see views.py) so the hot path skips a second
validation pass.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

Priority = Literal["low", "medium", "high", "urgent"]
Scope = Literal["global", "workspace"]
ActorKind = Literal["human", "agent_session", "automation", "extension", "network_peer", "pool"]
OriginKind = Literal["cli", "web", "uds", "http", "automation", "extension", "network", "agent_session", "daemon"]
TaskStatusName = Literal["draft", "pending", "blocked", "ready", "in_progress", "completed", "failed", "canceled"]
RunStatusName = Literal["queued", "claimed", "starting", "running", "completed", "failed", "canceled"]
Backoff = Literal["exponential_jitter", "linear", "fixed"]
Name = Field(min_length=1, max_length=200)
# The largest integer every JSON reader keeps exactly (JavaScript's Number.MAX_SAFE_INTEGER): the
# bound of a budget's token cap. 2**62 was beyond what generators and JS clients write exactly
# (4611686018427387904 reads back as ...388000).
JSON_SAFE_INT = 2**53 - 1
# A run's usage counters (tokens, tool calls, turns: running totals of one run) are INTEGER
# columns on PostgreSQL: 2**31 - 1 there, and the same bound on SQLite so both answer alike.
RUN_COUNTER_MAX = 2**31 - 1


class _NotNull:
    """Field metadata: the field may be left out, but ``null`` is refused (a PATCH/PUT field
    whose column cannot be empty). The document then says so: no ``null`` branch in its schema."""

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        if schema.get("default", 0) is None:
            del schema["default"]  # leaving the field out is the default; null is not a value it takes
        branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
        if "anyOf" in schema and len(branches) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**rest, **branches[0]}
        if "anyOf" in schema:
            schema["anyOf"] = branches
        return schema


NotNull = _NotNull()


AGENT_ID_RULE = "agent_id: 1-128 letters, digits and . _ : @ -, starting with a letter or digit"
SCHEDULE_RULES = ("schedule_expr is required unless schedule_kind is event",
                  "schedule_expr parses as its kind (5-field cron, RRULE, ISO-8601 time) and fires within the horizon",
                  "timezone: an IANA timezone name")


def rules_400(*rules: str) -> dict[int | str, dict[str, Any]]:
    """The 400 entry of an operation whose input has rules its JSON Schema does not state (across
    fields, against the clock or the database). ``x-rules`` lists them; tests/acceptance/test_fuzz.py
    lets schemathesis's positive_data_acceptance accept a 400 on exactly these operations."""
    return {400: {"model": ErrorOut, "x-rules": list(rules),
                  "description": "Bad input: the error names the field. Rules the schema cannot state: "
                                 + "; ".join(rules)}}
Label = Annotated[str, Field(min_length=1, max_length=200)]  # an item of a list of names (capabilities)


def _is_number(annotation: Any) -> bool:
    """int or float, alone or in an Optional/Union/Annotated (bool is not a number here)."""
    if annotation in (int, float):
        return True
    if get_origin(annotation) in (Union, types.UnionType) or hasattr(annotation, "__metadata__"):
        return any(_is_number(a) for a in get_args(annotation))
    return False


def _is_bool(annotation: Any) -> bool:
    """bool, alone or Optional/Annotated."""
    if annotation is bool:
        return True
    if get_origin(annotation) in (Union, types.UnionType) or hasattr(annotation, "__metadata__"):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return len(args) == 1 and _is_bool(args[0])
    return False


class Body(BaseModel):
    """Every request body: unknown fields are refused, a boolean is not a number (pydantic
    would take ``true`` for an integer field as 1) and a number is not a boolean (nor ``0``/``1``,
    ``"yes"``: pydantic's lax mode takes them)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            typed = _typed_fields(cls)
            if typed and data.keys().isdisjoint(_TYPED_KEYS[cls]):  # most items give none of them
                return data
            for key, name, number, boolean in typed:
                value = data.get(key)
                if number and isinstance(value, bool):
                    raise ValueError(f"{name}: expected a number, got a boolean")
                if boolean and value is not None and not isinstance(value, bool):
                    raise ValueError(f"{name}: expected true or false")
        return data


# Per body model: (key, name, is a number, is a boolean) of its number and boolean fields, worked
# out once (the annotations were inspected on every validation: 90% of a 1,000-task batch's).
_TYPED_FIELDS: dict[type, tuple[tuple[str, str, bool, bool], ...]] = {}
_TYPED_KEYS: dict[type, frozenset[str]] = {}


def _typed_fields(model: type[BaseModel]) -> tuple[tuple[str, str, bool, bool], ...]:
    found = _TYPED_FIELDS.get(model)
    if found is None:
        kinds = ((field.alias or name, name, _is_number(field.annotation), _is_bool(field.annotation))
                 for name, field in model.model_fields.items())
        found = tuple(k for k in kinds if k[2] or k[3])
        _TYPED_KEYS[model] = frozenset(k[0] for k in found)
        _TYPED_FIELDS[model] = found
    return found


class ActorRefIn(Body):
    kind: ActorKind
    ref: str = Field(min_length=1, max_length=200)


class Usage(Body):
    input_tokens: int | None = Field(default=None, ge=0, le=RUN_COUNTER_MAX)
    output_tokens: int | None = Field(default=None, ge=0, le=RUN_COUNTER_MAX)
    total_cost: float | None = Field(default=None, ge=0)
    cost_currency: str | None = Field(default=None, max_length=10)
    tool_call_count: int | None = Field(default=None, ge=0, le=RUN_COUNTER_MAX)
    turn_count: int | None = Field(default=None, ge=0, le=RUN_COUNTER_MAX)
    model: str | None = Field(default=None, min_length=1, max_length=200, description="e.g. claude-sonnet-4")
    provider: str | None = Field(default=None, min_length=1, max_length=200, description="e.g. anthropic")


class RateLimit(Body):
    """At most ``per_minute`` runs of ``key`` claimed per rolling minute; the rest wait."""

    key: str = Field(min_length=1, max_length=200)
    per_minute: int = Field(ge=1, le=1_000_000)


class RateLimitOut(BaseModel):
    key: str
    per_minute: int


class TaskCreate(Body):
    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=100_000)
    scope: Scope | None = None
    workspace_id: str | None = Field(default=None, min_length=1, max_length=200)
    priority: Priority = "medium"
    owner: ActorRefIn | None = None
    parent_task_id: str | None = Field(default=None, max_length=200)
    metadata: Any = None
    max_attempts: int = Field(default=3, ge=1, le=100)
    approval_policy: Literal["none", "required"] = "none"
    draft: bool = False
    start: bool = Field(default=True, description="Queue a run at once; false leaves the task pending until /start")
    network_channel: str | None = Field(default=None, min_length=1, max_length=200)
    dependencies: list[Label] = Field(default_factory=list, max_length=1000)
    backoff_strategy: Backoff = "exponential_jitter"
    backoff_seconds: float = Field(default=1.0, ge=0, le=86_400)
    timeout_seconds: float | None = Field(default=None, gt=0, le=30 * 86_400)
    concurrency_key: str | None = Field(default=None, min_length=1, max_length=200)
    concurrency_limit: int = Field(default=1, ge=1, le=100_000,
                                   description="At most this many live runs per concurrency_key")
    rate_limit: RateLimit | None = None
    required_capabilities: list[Label] | None = Field(default=None, max_length=100)


class ChildCreate(TaskCreate):
    pass


class TaskPatch(Body):
    title: Annotated[str | None, NotNull] = Field(default=None, min_length=1, max_length=500)
    description: Annotated[str | None, NotNull] = Field(default=None, max_length=100_000)
    priority: Annotated[Priority | None, NotNull] = None
    owner: ActorRefIn | None = None
    metadata: Any = None
    network_channel: str | None = Field(default=None, min_length=1, max_length=200)
    max_attempts: Annotated[int | None, NotNull] = Field(default=None, ge=1, le=100)
    blocker: str | None = Field(default=None, max_length=2000, description="Set to block by hand; '' clears")
    timeout_seconds: float | None = Field(default=None, gt=0, le=30 * 86_400)
    concurrency_key: str | None = Field(default=None, max_length=200)
    concurrency_limit: Annotated[int | None, NotNull] = Field(default=None, ge=1, le=100_000)
    rate_limit: RateLimit | None = Field(default=None, description="null clears it")
    required_capabilities: list[Label] | None = Field(default=None, max_length=100)


class Reason(Body):
    reason: str | None = Field(default=None, max_length=2000)


class ApproveBody(Body):
    comment: str | None = Field(default=None, max_length=2000)


class DependencyCreate(Body):
    depends_on_task_id: str = Field(min_length=1, max_length=200)
    kind: Literal["blocks"] = "blocks"


class IdempotentBody(Body):
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    lease_seconds: float | None = Field(default=None, ge=1, le=86_400)


class UsageReport(Usage):
    """Usage figures, accepted at top level or under ``usage`` (running totals of the run)."""

    usage: Usage | None = None


class RunComplete(UsageReport):
    result: Any = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    claim_token: str | None = Field(default=None, max_length=200)


class RunFail(Body):
    error: str = Field(min_length=1, max_length=20_000)
    retryable: bool = True
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    claim_token: str | None = Field(default=None, max_length=200)
    usage: Usage | None = None


class AttachSession(Body):
    session_id: str = Field(min_length=1, max_length=200)


class ClaimNext(Body):
    network_channel: str | None = Field(default=None, min_length=1, max_length=200)
    workspace: str | None = Field(default=None, min_length=1, max_length=200)
    capabilities: list[Label] | None = Field(default=None, max_length=100)
    min_priority: Priority | None = None
    lease_seconds: float = Field(default=300, ge=1, le=86_400)
    session_id: str | None = Field(default=None, min_length=1, max_length=200)
    wait_seconds: float = Field(default=0, ge=0, le=30)


class Heartbeat(UsageReport):
    lease_seconds: float | None = Field(default=None, ge=1, le=86_400)
    claim_token: str | None = Field(default=None, max_length=200)
    progress: Any = None


class Release(Body):
    reason: str | None = Field(default=None, max_length=2000)
    claim_token: str | None = Field(default=None, max_length=200)


# -- response models (documentation) ---------------------------------------------


class ActorRef(BaseModel):
    kind: str
    ref: str | None


class TaskRef(BaseModel):
    id: str
    identifier: str
    owner: ActorRef | None
    priority: Priority
    scope: Scope
    status: TaskStatusName
    title: str
    workspace_id: str | None


class TaskOut(TaskRef):
    approval_policy: Literal["none", "required"]
    approval_state: Literal["not_required", "pending", "approved", "rejected"]
    blocked_reason: str | None
    blocker: str | None
    closed_at: str | None
    created_at: str
    created_by: ActorRef
    description: str
    draft: bool
    max_attempts: int
    attempts: int
    metadata: Any
    network_channel: str | None
    origin: ActorRef
    parent_task_id: str | None
    result: Any
    error: str | None
    started_at: str | None
    updated_at: str
    last_activity_at: str
    concurrency_key: str | None
    concurrency_limit: int
    rate_limit: RateLimitOut | None


class CoordinationChannelOut(BaseModel):
    """One per run, derived from it (see docs/api/agent-native.md)."""

    allowed_message_kinds: list[str]
    channel: str
    display_name: str
    id: str
    last_activity_at: str | None
    purpose: str
    run_id: str
    task_id: str
    workflow_id: str | None
    workspace_id: str | None


class RunCommon(BaseModel):
    attempt: int
    claim_token_hash: str | None
    claimed_at: str | None
    claimed_by: ActorRef | None
    coordination_channel: CoordinationChannelOut | None
    coordination_channel_id: str | None
    ended_at: str | None
    error: str | None
    heartbeat_at: str | None
    id: str
    lease_until: str | None
    queued_at: str
    session_id: str | None
    started_at: str | None
    status: RunStatusName
    task_id: str


class RunOut(RunCommon):
    available_at: str
    idempotency_key: str | None
    metadata: Any
    network_channel: str | None
    origin: ActorRef
    result: Any
    timeout_at: str | None


class RunSummaryOut(RunCommon):
    max_attempts: int | None


class DependencyOut(BaseModel):
    created_at: str
    depends_on_task_id: str
    kind: str
    task_id: str
    depends_on: TaskRef | None = None


class TaskSummaryOut(TaskOut):
    active_run: RunSummaryOut | None
    child_count: int
    dependencies: list[DependencyOut]
    dependency_count: int


class EventOut(BaseModel):
    actor: ActorRef
    event_type: str
    id: str
    origin: ActorRef
    payload: Any
    run_id: str | None
    task_id: str
    sequence: int
    timestamp: str


class TaskDetailOut(BaseModel):
    task: TaskOut
    summary: TaskSummaryOut
    children: list[TaskSummaryOut]
    dependencies: list[DependencyOut]
    dependency_references: list[DependencyOut]
    events: list[EventOut]
    runs: list[RunOut]


class LeaseOut(BaseModel):
    claim_token_hash: str | None
    claimed_by: ActorRef | None
    coordination_channel: CoordinationChannelOut | None
    coordination_channel_id: str | None
    heartbeat_at: str | None
    lease_until: str | None
    run_id: str
    session_id: str | None
    status: RunStatusName
    task_id: str
    claim_token: str | None = Field(default=None, description="Shown once, in the claim answer only")


class ClaimTask(TaskRef):
    description: str
    metadata: Any
    network_channel: str | None


class ClaimOut(BaseModel):
    coordination_channel: CoordinationChannelOut | None
    lease: LeaseOut
    run: RunOut
    task: ClaimTask
    claim_token: str


class UsageSummaryOut(BaseModel):
    cost_currency: str | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    tool_call_count: int
    total_cost: float
    turn_count: int
    model: str | None = None
    provider: str | None = None
    last_activity_at: str | None
    last_event_type: str | None


class SessionOut(BaseModel):
    agent_name: str | None
    channel: str | None
    created_at: str | None
    name: str | None
    session_id: str
    state: str
    updated_at: str | None
    workspace_id: str | None


class RunDetailOut(BaseModel):
    run: RunOut
    session: SessionOut | None
    summary: UsageSummaryOut
    task: TaskRef


class TimelineItemOut(BaseModel):
    actor: ActorRef
    event_id: str
    event_type: str
    origin: ActorRef
    payload: Any
    run: RunSummaryOut | None
    sequence: int
    task: TaskRef
    timestamp: str


class TreeNodeOut(BaseModel):
    active_run: RunSummaryOut | None
    child_count: int
    depth: int
    last_activity_at: str | None
    parent_task_id: str | None
    task: TaskRef


class TreeOut(BaseModel):
    root: TreeNodeOut
    descendants: list[TreeNodeOut]


class TriageOut(BaseModel):
    actor: ActorRef
    archived: bool
    dismissed: bool
    last_seen_activity_at: str | None
    read: bool
    task_id: str
    updated_at: str


class TaskEnvelope(BaseModel):
    task: TaskOut


class TasksEnvelope(BaseModel):
    tasks: list[TaskSummaryOut]


class TaskDetailEnvelope(BaseModel):
    task: TaskDetailOut


class RunEnvelope(BaseModel):
    run: RunOut


class RunsEnvelope(BaseModel):
    runs: list[RunOut]


class TaskRunEnvelope(BaseModel):
    task: TaskOut
    run: RunOut | None


class ClaimEnvelope(BaseModel):
    claim: ClaimOut


class LeaseEnvelope(BaseModel):
    lease: LeaseOut


class RunDetailEnvelope(BaseModel):
    run: RunDetailOut


class TimelineEnvelope(BaseModel):
    timeline: list[TimelineItemOut]


class TreeEnvelope(BaseModel):
    tree: TreeOut


class TriageEnvelope(BaseModel):
    triage: TriageOut


class ErrorOut(BaseModel):
    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422)
}
