"""Who did something: an actor kind and a reference, as the seeds show them."""

from __future__ import annotations

from dataclasses import dataclass, field

ACTOR_KINDS = ("human", "agent_session", "automation", "extension", "network_peer", "pool")
ORIGIN_KINDS = ("cli", "web", "uds", "http", "automation", "extension", "network", "agent_session", "daemon")
ROLES = ("admin", "member", "agent")


@dataclass(frozen=True)
class Actor:
    kind: str
    ref: str
    role: str = "member"
    workspaces: tuple[str, ...] | None = field(default=None)
    # An API key may be limited to some network channels: its claims come only from them.
    channels: tuple[str, ...] | None = field(default=None)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def ref_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "ref": self.ref}

    def sees_workspace(self, workspace_id: str | None) -> bool:
        """Workspace-scoped callers see global tasks and their own workspaces only."""
        return self.workspaces is None or workspace_id is None or workspace_id in self.workspaces

    def claim_channels(self, requested: str | None) -> list[str | None]:
        """The channel filters a claim may use: the requested one (None = any), or, for a
        channel-limited caller, only its own channels (in the order the key lists them)."""
        if self.channels is None:
            return [requested]
        if requested is None:
            return list(self.channels)
        self.check_claim_channel(requested)
        return [requested]

    def check_claim_channel(self, channel: str | None) -> None:
        if self.channels is not None and channel not in self.channels:
            from taskloom.domain.errors import Forbidden

            raise Forbidden(f"this API key may claim only from channels: {', '.join(self.channels)}")


SYSTEM = Actor(kind="automation", ref="taskloom", role="admin")
