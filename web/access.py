"""Who may see and do what. Every view, HTML or API, asks here before it reads or changes anything.

Staff see and work the tasks of their groups and those assigned to them; supervisors also see and
reassign the tasks of the groups they supervise; designers validate and deploy process packages;
auditors read everything and change nothing; admins may do everything and manage users. The engine
refuses unauthorised commands as well; this module also refuses reads, which the engine leaves to its
callers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine import Definition, Instance, NotAllowed, NotFound, Task, User


@dataclass(frozen=True)
class Actor:
    user: User
    supervised: frozenset[str]

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(self.user.groups)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.user.roles

    @property
    def read_only(self) -> bool:
        """Auditors read everything and change nothing (unless they are also admins)."""
        return "auditor" in self.user.roles and not self.is_admin

    @property
    def reads_all(self) -> bool:
        return self.is_admin or "auditor" in self.user.roles

    @property
    def designs(self) -> bool:
        """Designers (and admins) validate and deploy process packages."""
        return not self.read_only and (self.is_admin or "designer" in self.user.roles)

    @property
    def supervises(self) -> bool:
        return not self.read_only and (self.is_admin or bool(self.supervised))

    def task_scope(self) -> list[str] | None:
        """The groups whose tasks this actor's lists show; None means every group."""
        return None if self.reads_all else sorted(self.groups)

    def supervised_scope(self, all_groups: Iterable[str]) -> list[str]:
        return sorted(all_groups) if self.is_admin else sorted(self.supervised)


def may_read_task(who: Actor, task: Task) -> bool:
    return (who.reads_all or task.group in who.groups or task.group in who.supervised
            or who.username in (task.assignee, task.completed_by))


def may_work_task(who: Actor, task: Task) -> bool:
    """Claim and complete: members of the task's group, its assignee, admins."""
    if who.read_only:
        return False
    return who.is_admin or task.group in who.groups or task.assignee == who.username


def may_unclaim_task(who: Actor, task: Task) -> bool:
    if who.read_only or task.assignee is None:
        return False
    return task.assignee == who.username or who.is_admin or task.group in who.supervised


def may_assign_task(who: Actor, task: Task) -> bool:
    return not who.read_only and (who.is_admin or task.group in who.supervised)


def may_read_case(who: Actor, instance: Instance, tasks: Iterable[Task]) -> bool:
    if who.reads_all or instance.started_by == who.username:
        return True
    return any(may_read_task(who, t) for t in tasks)


def may_start(who: Actor, definition: Definition) -> bool:
    if who.read_only:
        return False
    return who.is_admin or not definition.starters or bool(who.groups.intersection(definition.starters))


def may_deploy(who: Actor) -> bool:
    return who.designs


def may_read_definitions(who: Actor) -> bool:
    """Deployed versions with their files: designers, admins and auditors."""
    return who.reads_all or who.designs


def require(allowed: bool, message: str) -> None:
    """Refuse with 403 (NotAllowed) unless allowed."""
    if not allowed:
        raise NotAllowed(message)


def require_visible(allowed: bool, message: str) -> None:
    """Refuse a read of something the caller may not see with 404 (NotFound), exactly as if it did not
    exist: a 403 would tell that the id is real."""
    if not allowed:
        raise NotFound(message)
