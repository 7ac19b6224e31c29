"""A Taskloom worker in Python. From the repository folder, while `make serve` runs:

    export TASKLOOM_TOKEN=$(.venv/bin/taskloom token --sub agent-1 --kind agent_session --role agent)
    .venv/bin/python examples/worker.py          # TASKLOOM_URL defaults to http://127.0.0.1:8420

Then create tasks on the "research" channel with the text in their metadata:

    curl -X POST http://127.0.0.1:8420/api/tasks -H "Authorization: Bearer $ADMIN" \
      -H "Content-Type: application/json" \
      -d '{"title": "Summarise", "network_channel": "research", "metadata": {"text": "..."}}'

Ctrl-C stops it: running tasks get 30 s to finish, the rest are released, not failed.
"""

from __future__ import annotations

import logging
import os

from taskloom.sdk import Client, NonRetryableError, RunContext, Task, Worker


def summarise(task: Task, ctx: RunContext) -> dict[str, object]:
    text = (task.metadata or {}).get("text")
    if not isinstance(text, str):
        raise NonRetryableError("metadata.text (a string) is missing")  # no retry: it would fail again
    words = text.split()
    ctx.progress({"step": "summarising", "words": len(words)})
    summary = " ".join(words[:12]) + (" ..." if len(words) > 12 else "")
    ctx.report_usage(input_tokens=len(words), output_tokens=min(len(words), 12), model="first-words-v1")
    return {"summary": summary, "words": len(words)}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    worker = Worker(Client(), channel=os.environ.get("CHANNEL", "research"), concurrency=4)
    worker.task(summarise)
    worker.run()


if __name__ == "__main__":
    main()
