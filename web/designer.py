"""Designers: the deployed process versions with their files and diagrams, and uploading a package
(a zip of its folder) to validate it or deploy it as the next version."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for

from engine import PackageInvalid, Problem

from . import access
from .access import Actor
from .security import actor, get_engine

bp = Blueprint("designer", __name__, url_prefix="/designer")

ARCHIVE_FIELD = "package"


def uploaded_archive() -> tuple[bytes, str]:
    """The uploaded zip and its file name; a missing upload is refused as a package problem."""
    upload = request.files.get(ARCHIVE_FIELD)
    if upload is None or not upload.filename:
        raise PackageInvalid([Problem("upload", "choose a .zip of the package folder to upload")])
    return upload.read(), upload.filename


def _require_reader() -> Actor:
    who = actor()
    access.require(access.may_read_definitions(who), "only designers, auditors and admins see process versions")
    return who


@bp.get("")
def index() -> Any:
    who = _require_reader()
    return render_template("designer/index.html", versions=_by_process(), may_deploy=access.may_deploy(who))


def _by_process() -> dict[str, list[Any]]:
    versions: dict[str, list[Any]] = {}
    for d in get_engine().definitions():
        versions.setdefault(d.process_id, []).insert(0, d)  # newest first
    return versions


@bp.post("/packages")
def upload() -> Any:
    who = actor()
    access.require(access.may_deploy(who), "only designers and admins deploy processes")
    engine = get_engine()
    deploying = request.form.get("action") == "deploy"
    try:
        data, name = uploaded_archive()
        if not deploying:
            problems = engine.validate_archive(data, name)
            if problems:
                raise PackageInvalid(problems)
            flash(f"{name} is valid: every file, element and expression checks out.")
            return redirect(url_for("designer.index"), 303)
        result = engine.deploy_archive(data, who.username, name)
    except PackageInvalid as err:
        return render_template("designer/index.html", versions=_by_process(), may_deploy=True,
                               problems=err.problems), 422
    if result.created:
        flash(f"{result.process_id} version {result.version} deployed: new cases start on it; "
              "running cases finish on their own version.")
    else:
        flash(f"{name} is identical to {result.process_id} version {result.version}: nothing deployed.")
    return redirect(url_for("designer.version", process_id=result.process_id, version=result.version), 303)


@bp.get("/<process_id>/<int:version>/package.zip")
def download(process_id: str, version: int) -> Any:
    _require_reader()
    data = get_engine().definition_archive(process_id, version)
    return send_file(io.BytesIO(data), mimetype="application/zip", as_attachment=True,
                     download_name=f"{process_id}-v{version}.zip")


@bp.get("/<process_id>/<int:version>")
def version(process_id: str, version: int) -> Any:
    _require_reader()
    engine = get_engine()
    definition = engine.definition(process_id, version)
    files = engine.definition_files(process_id, version)
    shown = request.args.get("file")
    if shown is not None and shown not in files:
        shown = None
    diagram = {"xml": engine.definition_bpmn(process_id, version), "completed": [], "current": []}
    return render_template("designer/version.html", definition=definition, files=files, shown=shown,
                           diagram=diagram, versions=[d.version for d in engine.definitions(process_id)])
