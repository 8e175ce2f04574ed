"""Deploying definition versions (packages are validated first; versions are immutable)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from .. import org
from ..definitions import Package, check_files, load_package, read_package_archive
from ..model import DeployResult
from ..store import (
    DefinitionRow,
)
from .core import SYSTEM, CommandCore


class DeployCommands(CommandCore):
    """Deploys packages as new definition versions."""

    def deploy(self, path: str | Path, actor: str = SYSTEM) -> DeployResult:
        """Validate and deploy a package folder or .zip archive (PackageInvalid lists every problem)."""
        return self.deploy_package(load_package(path, **self.package_context()), actor)

    def deploy_archive(self, data: bytes, actor: str = SYSTEM, label: str = "archive") -> DeployResult:
        """Validate and deploy a package sent as the bytes of a zip archive."""
        return self.deploy_package(check_files(read_package_archive(data, label), label=label,
                                               **self.package_context()), actor)

    def package_context(self, *, deploying: bool = True) -> dict[str, set[str] | None]:
        """What a package is checked against: the calendars and groups known here. Before any org is loaded
        groups are not checked, and calendars only when deploying (a timer on an unknown calendar cannot run)."""
        from ..store import GroupRow

        with self.store.read() as s:
            cals, groups = set(org.calendars(s)), set(s.scalars(select(GroupRow.id)))
        return {"calendars": cals if deploying else cals or None, "groups": groups or None}

    def deploy_package(self, package: Package, actor: str = SYSTEM) -> DeployResult:
        with self.store.transaction() as s:
            same = s.scalar(select(DefinitionRow).where(DefinitionRow.process_id == package.process_id,
                                                        DefinitionRow.content_hash == package.content_hash))
            if same is not None:
                return DeployResult(package.process_id, same.version, False, same.content_hash)
            latest = s.scalar(select(func.max(DefinitionRow.version))
                              .where(DefinitionRow.process_id == package.process_id)) or 0
            row = DefinitionRow(process_id=package.process_id, version=latest + 1, name=package.name,
                                content_hash=package.content_hash, files=package.files,
                                manifest=package.manifest, deployed_at=self.clock.now(), deployed_by=actor)
            s.add(row)
        return DeployResult(package.process_id, latest + 1, True, package.content_hash)
