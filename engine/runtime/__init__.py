"""The SpiffWorkflow adapter: the only package that imports SpiffWorkflow.

It owns three seams Spiff does not offer: time (Spiff reads the wall clock for timers and task
timestamps), identity (Spiff gives tasks random UUIDs) and evaluation (Spiff runs process text with
eval/exec). During a command all three are pinned, so the same inputs always give the same state,
which is what replay relies on.

- `pinning`: the pinned clock, task-id seed and expression helpers of one command
- `scripting`: Spiff's script engine, routed through the sandbox
- `specs`: BPMN/DMN parsed into runnable specs; parse errors as located problems
- `run`: one restored workflow and the commands it takes
- `state`: the stored state (dump without the spec, restore, hash)
"""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"SpiffWorkflow\..*")

from SpiffWorkflow.util.task import TaskState  # noqa: E402

from .pinning import pinned  # noqa: E402
from .run import (  # noqa: E402
    PRUNE_AT,
    PRUNE_MARGIN,
    OutgoingMessage,
    ReadyTask,
    Run,
    RunFailed,
    WaitingMessage,
    WaitingTimer,
    new_run,
)
from .scripting import SCRIPT_ENGINE  # noqa: E402
from .specs import CompiledProcess, SpecProblem, compile_process, spec_problem  # noqa: E402
from .state import dump, id_counter_of, restore, state_hash  # noqa: E402
from .values import json_default, plain  # noqa: E402

__all__ = [
    "PRUNE_AT", "PRUNE_MARGIN", "SCRIPT_ENGINE", "CompiledProcess", "OutgoingMessage", "ReadyTask", "Run",
    "RunFailed", "SpecProblem", "TaskState", "WaitingMessage", "WaitingTimer", "compile_process", "dump",
    "id_counter_of", "json_default", "new_run", "pinned", "plain", "restore", "spec_problem", "state_hash",
]
