"""Tools for an agent working a task: claim it, keep the lease, ask a person, post on the run's
coordination channel, stream output, finish."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from taskloom.api import views
from taskloom.api.runtime import spec_from
from taskloom.api.schemas import ChildCreate, Priority
from taskloom.domain.channels import channel_id
from taskloom.engine import agents as agent_ops
from taskloom.engine import channels as channel_ops
from taskloom.engine import output as output_ops
from taskloom.engine import runs as run_ops
from taskloom.engine import tasks as task_ops
from taskloom.engine.budgets import BudgetExhausted
from taskloom.engine.engine import Engine
from taskloom.mcp_server import results
from taskloom.mcp_server.calling import caller, tool_errors, validated
from taskloom.rows import Row

MAX_WAIT = 50.0  # MCP clients time a tool call out at about 60 s

ADDS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
RENEWS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
CLOSES = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)
READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)

RunId = Annotated[str, Field(min_length=1, max_length=200, description="The run_id that claim_task returned")]
ClaimToken = Annotated[str | None, Field(default=None, description="The claim_token from claim_task (recommended: "
                                                                   "proves the lease is still yours)")]
Channel = Annotated[str | None, Field(default=None, min_length=1, max_length=200,
                                      description="Network channel (queue) name")]
MessageKind = Literal["note", "question", "answer", "handoff", "status"]  # domain.channels.MESSAGE_KINDS
Wait = Annotated[float, Field(ge=0, le=MAX_WAIT, description=f"Seconds to wait, at most {MAX_WAIT:g}")]


class UsageIn(BaseModel):
    """Running totals for this run so far (repeating a report is harmless)."""

    input_tokens: int | None = Field(default=None, ge=0, le=2**62)
    output_tokens: int | None = Field(default=None, ge=0, le=2**62)
    cost: float | None = Field(default=None, ge=0, description="Total cost so far, in cost_currency (default USD)")
    cost_currency: str | None = Field(default=None, max_length=10)
    tool_calls: int | None = Field(default=None, ge=0, le=2**62)
    model: str | None = Field(default=None, max_length=200, description="The model doing the work")
    provider: str | None = Field(default=None, max_length=200, description="Who serves the model")


def usage_row(usage: UsageIn | None) -> Row:
    if usage is None:
        return {}
    names = {"cost": "total_cost", "tool_calls": "tool_call_count"}
    return {names.get(k, k): v for k, v in usage.model_dump(exclude_none=True).items()}


def register(server: MCPServer, engine: Engine) -> None:
    @server.tool(annotations=ADDS)
    @tool_errors
    async def claim_task(
        channel: Channel = None,
        capabilities: Annotated[list[str] | None, Field(default=None, max_length=100, description=(
            "What you can do; only tasks whose required capabilities you all have are handed out"))] = None,
        lease_seconds: Annotated[float, Field(ge=1, le=86_400, description=(
            "How long the task stays yours without a heartbeat"))] = 300,
        wait_seconds: Wait = 25,
    ) -> results.ClaimResult:
        """Take the next task to work on: the most urgent, oldest ready task you may take.

        Returns the task (title, description, metadata = its input), the run_id and claim_token to
        pass to later calls, and the lease deadline. Call heartbeat before the lease lapses, then
        complete_task or fail_task. If nothing turns up within wait_seconds, claimed is false:
        call claim_task again to keep waiting."""
        actor = caller()
        filters = run_ops.ClaimFilters(network_channel=channel, capabilities=capabilities)
        try:
            claim = await engine.long_poll(actor, lambda: engine.write(
                actor, lambda tx, ctx: run_ops.claim_next(tx, ctx, filters, lease_seconds, None),
            ), wait_seconds)
        except BudgetExhausted as exc:
            return results.ClaimResult(claimed=False, budget_exhausted=exc.budget["id"], message=(
                f"No task for you now: {exc.message}. Runs you hold may finish; ask a person to raise the budget."))
        if claim is None:
            where = f"on channel {channel!r}" if channel else "on any channel"
            return results.ClaimResult(claimed=False, message=(
                f"No task was available {where} within {wait_seconds:g} s. Call claim_task again to keep waiting."))
        task, run = claim.task, claim.run
        return results.ClaimResult(
            claimed=True,
            message=(f"You hold {task['identifier']} until {views.iso(run['lease_until'])}. Call heartbeat before "
                     "then, and complete_task or fail_task when done."),
            task=results.ClaimedTask(id=task["id"], identifier=task["identifier"], title=task["title"],
                                     description=task["description"], metadata=views.js(task["metadata"]),
                                     priority=views.to_runtime(task["priority"]),
                                     network_channel=task["network_channel"]),
            run_id=run["id"], claim_token=claim.token, lease_until=views.iso(run["lease_until"]),
            attempt=run["attempt"],
        )

    @server.tool(annotations=RENEWS)
    @tool_errors
    async def heartbeat(
        run_id: RunId,
        progress: Annotated[str | dict[str, Any] | None, Field(default=None, description=(
            "What you have done so far (shown on the task's timeline)"))] = None,
        usage: Annotated[UsageIn | None, Field(default=None, description="Tokens, cost, tool calls, model")] = None,
        lease_seconds: Annotated[float | None, Field(default=None, ge=1, le=86_400, description=(
            "New lease length; default: the one you claimed with"))] = None,
        claim_token: ClaimToken = None,
    ) -> results.LeaseResult:
        """Renew the lease on the task you hold and report progress and usage. Call it well before
        lease_until (e.g. every third of the lease); a lapsed lease is taken back and retried."""
        run = await engine.write(caller(), lambda tx, ctx: run_ops.heartbeat(
            tx, ctx, run_id, lease_seconds=lease_seconds, claim_token=claim_token, usage=usage_row(usage),
            progress=progress))
        return results.lease_result(run, f"Lease renewed until {views.iso(run['lease_until'])}.")

    @server.tool(annotations=CLOSES)
    @tool_errors
    async def complete_task(
        run_id: RunId,
        result: Annotated[dict[str, Any] | str | None, Field(default=None, description=(
            "The outcome: an object, or text"))] = None,
        usage: Annotated[UsageIn | None, Field(default=None, description="Final tokens, cost, tool calls, model")]
        = None,
        claim_token: ClaimToken = None,
    ) -> results.LeaseResult:
        """Finish the task you hold with its result. Tasks that depend on it may start."""
        run = await engine.write(caller(), lambda tx, ctx: run_ops.complete_run(
            tx, ctx, run_id, result=result, idempotency_key=None, claim_token=claim_token, usage=usage_row(usage)))
        return results.lease_result(run, "Task completed.")

    @server.tool(annotations=CLOSES)
    @tool_errors
    async def fail_task(
        run_id: RunId,
        error: Annotated[str, Field(min_length=1, max_length=20_000, description="What went wrong, for a person")],
        retry: Annotated[bool, Field(description=(
            "True: try again later (while attempts remain); false: the task fails for good"))] = True,
        claim_token: ClaimToken = None,
    ) -> results.LeaseResult:
        """Give up on this attempt of the task you hold, saying why."""
        run = await engine.write(caller(), lambda tx, ctx: run_ops.fail_run(
            tx, ctx, run_id, error=error, idempotency_key=None, claim_token=claim_token, retryable=retry))
        return results.lease_result(run, "Attempt failed; the task will be retried if attempts remain."
                                    if retry else "Attempt failed; no retry was asked for.")

    @server.tool(annotations=CLOSES)
    @tool_errors
    async def release_task(
        run_id: RunId,
        reason: Annotated[str | None, Field(default=None, max_length=2000)] = None,
        claim_token: ClaimToken = None,
    ) -> results.LeaseResult:
        """Hand the task you hold back to the queue unchanged (not a failure; the attempt is not
        spent), e.g. when it is not for you. Someone else may claim it."""
        run = await engine.write(caller(), lambda tx, ctx: run_ops.release_run(
            tx, ctx, run_id, reason=reason, claim_token=claim_token))
        return results.lease_result(run, "Task released back to the queue.")

    @server.tool(annotations=ADDS)
    @tool_errors
    async def ask_human(
        run_id: RunId,
        question: Annotated[str, Field(min_length=1, max_length=100_000, description="One clear question")],
        claim_token: ClaimToken = None,
    ) -> results.AskResult:
        """Ask a person a question about the task you hold. The task waits for input and shows in
        the supervisors' inbox; your lease stays. Then call wait_for_answer."""

        msg, _ = await engine.write(caller(), lambda tx, ctx: agent_ops.ask(tx, ctx, run_id, question, claim_token))
        return results.AskResult(run_id=run_id, task_id=msg["task_id"], question_sequence=msg["sequence"],
                                 message="Question sent to the supervisors' inbox. Call wait_for_answer.")

    @server.tool(annotations=READS)
    @tool_errors
    async def wait_for_answer(run_id: RunId, wait_seconds: Wait = 30) -> results.AnswerResult:
        """Wait for a person's answer to your last ask_human question. Returns the answer, or
        answered=false ("no answer yet") after wait_seconds: then call it again."""
        actor = caller()
        deadline = time.monotonic() + wait_seconds
        while True:
            view = await engine.read(actor, lambda tx, ctx: agent_ops.agent_messages(tx, ctx, run_id, 0, None))
            messages = view["messages"]
            asked = max((m["sequence"] for m in messages if m["kind"] == "question"), default=None)
            if asked is None:
                raise ToolError(f"conflict (HTTP 409): run {run_id} has asked no question: call ask_human first")
            answers = [m for m in messages if m["role"] == "user" and m["sequence"] > asked]
            if answers:
                last = answers[-1]
                sender = last["sender"]
                return results.AnswerResult(
                    answered=True, answer="\n\n".join(m["message"] for m in answers),
                    answered_by=f"{sender['kind']}:{sender['ref']}", answered_at=last["created_at"],
                    message="A person answered. Carry on with the task.")
            remaining = deadline - time.monotonic()
            if remaining <= 0 or engine.draining:  # draining: the server is shutting down, answer now
                return results.AnswerResult(answered=False, message=(
                    "No answer yet. Call wait_for_answer again (your lease stays while you wait; heartbeat if "
                    "it is close to lapsing)."))
            await engine.wait_for_task(view["task_id"], min(remaining, 5.0))

    @server.tool(annotations=ADDS)
    @tool_errors
    async def create_subtask(
        run_id: RunId,
        title: Annotated[str, Field(min_length=1, max_length=500)],
        description: Annotated[str, Field(max_length=100_000)] = "",
        metadata: Annotated[dict[str, Any] | None, Field(default=None, description="Input for whoever works it")]
        = None,
        channel: Channel = None,
        priority: Priority = "medium",
        required_capabilities: Annotated[list[str] | None, Field(default=None, max_length=100)] = None,
        claim_token: ClaimToken = None,
    ) -> results.TaskChange:
        """Split off part of the task you hold as a child task, queued for any agent (or you) to
        claim. Canceling your task cancels its children."""
        body = validated(ChildCreate, title=title, description=description, metadata=metadata,
                         network_channel=channel, priority=priority, required_capabilities=required_capabilities)
        actor = caller()

        # The run is checked first (your live run), then the child is created under its task.
        task, run = await engine.write(actor, lambda tx, ctx: task_ops.create_task(tx, ctx, spec_from(
            body, actor, parent_task_id=run_ops.load_own_live_run(tx, ctx, run_id, claim_token,
                                                                  "create a subtask of")["task_id"])))
        return results.TaskChange(task=results.brief(views.task_record(task)), run_id=run["id"] if run else None,
                                  message=f"Subtask {task['identifier']} created under your task.")

    @server.tool(annotations=ADDS)
    @tool_errors
    async def post_message(
        run_id: Annotated[str, Field(min_length=1, max_length=200, description=(
            "The run whose coordination channel to post on (yours, or one on a task you may post to)"))],
        kind: Annotated[MessageKind, Field(description=(
            "note, status, handoff, answer, or question (a question from the run's holder makes the task wait for "
            "a person, as ask_human does)"))],
        body: Annotated[str, Field(min_length=1, max_length=100_000, description="The message text")],
    ) -> results.MessagePosted:
        """Post a message on a run's coordination channel: the agent holding it, the task's owner and
        members of its workspace read and write there. It shows on the task's timeline and live stream."""
        msg, run = await engine.write(caller(), lambda tx, ctx: channel_ops.post(tx, ctx, run_id, kind, body))
        return results.MessagePosted(run_id=run["id"], task_id=run["task_id"], channel_id=channel_id(run["id"]),
                                     sequence=msg["sequence"], kind=msg["kind"],
                                     message=f"Posted a {msg['kind']} on the run's coordination channel.")

    @server.tool(annotations=ADDS)
    @tool_errors
    async def stream_output(
        run_id: RunId,
        chunk: Annotated[str, Field(min_length=1, description=(
            "Text to append to the run's output (tokens, log lines, partial results): at most 64 KB per call, "
            "10 MB per run"))],
        claim_token: ClaimToken = None,
    ) -> results.OutputStreamed:
        """Append output to the task you hold while you work, so people can follow it live (the task
        page and its stream show each chunk). Only the agent holding the run may stream to it."""
        size = output_ops.check_chunk(chunk)  # before the write: a refused chunk never holds the writer
        run = await engine.write(caller(), lambda tx, ctx: output_ops.append(tx, ctx, run_id, chunk, size,
                                                                             claim_token))
        end = int(run["output_length"])
        return results.OutputStreamed(run_id=run_id, offset=end - len(chunk), next_offset=end,
                                      total_bytes=int(run["output_bytes"]),
                                      message=f"Appended {len(chunk)} characters; the output is {end} long.")
