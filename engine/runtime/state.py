"""The stored workflow state: dump without the spec, restore onto the shared spec, hash."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from .run import Run
from .scripting import SCRIPT_ENGINE
from .specs import CompiledProcess
from .values import json_default, plain

_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
# The registry wraps each converter's to_dict in a partial; the converter itself restores workflows onto a cached spec.
_WORKFLOW_CONVERTER = (
    _SERIALIZER.registry.convert_to_dict[_SERIALIZER.registry.typenames[BpmnWorkflow]].args[1].__self__
)


def restore(compiled: CompiledProcess, state: Mapping[str, Any]) -> Run:
    """Rebuild a workflow from its stored state and the shared spec (specs are never stored per instance)."""
    dct = copy.deepcopy(dict(state))
    meta = dct.pop("flowdesk", None) or {}
    workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs, script_engine=SCRIPT_ENGINE,
                            deserializing=True)
    conv = _WORKFLOW_CONVERTER
    workflow.tasks = conv.mapping_from_dict(dct["tasks"], uuid.UUID, workflow=workflow)
    workflow.task_tree = workflow.tasks.get(uuid.UUID(dct["root"]))
    conv.set_default_attributes(workflow, dct)
    conv.subprocesses_from_dict(dct["subprocesses"], workflow)
    workflow.bpmn_events = _SERIALIZER.registry.restore(dct.pop("bpmn_events", []))
    workflow.script_engine = SCRIPT_ENGINE
    run = Run(compiled, workflow)
    run.pruned_elements = set(meta.get("pruned", []))
    return run


def dump(run: Run, id_counter: int) -> dict[str, Any]:
    """The workflow state without its spec, plus the id counter that keeps task ids deterministic."""
    run.prune()
    dct = _SERIALIZER.to_dict(run.workflow)
    dct.pop("spec", None)
    dct.pop("subprocess_specs", None)
    # Spiff lists a task's deleted data keys in the data's insertion order. Sorted, the state (and its
    # hash) depends only on the data, not on the order a client sent fields or a JSON store kept them.
    for tasks in [dct.get("tasks", {})] + [sp.get("tasks", {}) for sp in dct.get("subprocesses", {}).values()]:
        for task in tasks.values():
            delta = task.get("delta") or {}
            if delta.get("deletions"):
                delta["deletions"] = sorted(delta["deletions"])
    dct["flowdesk"] = {"ids": id_counter, "serializer": _SERIALIZER.VERSION}
    if run.pruned_elements:
        dct["flowdesk"]["pruned"] = sorted(run.pruned_elements)
    result: dict[str, Any] = plain(dct)
    return result


def id_counter_of(state: Mapping[str, Any]) -> int:
    return int(state.get("flowdesk", {}).get("ids", 0))


def state_hash(state: Mapping[str, Any]) -> str:
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":"), default=json_default)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
