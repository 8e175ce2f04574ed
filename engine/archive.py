"""Reading what a package (or org.yaml) holds with bounded work, whatever its author sent.

YAML is composed once and its size *after* alias expansion counted before anything is built from it, so a
kilobyte of nested anchors (a "billion laughs") is refused in milliseconds instead of being expanded by
whatever walks the result. Files are read only when a package may hold them, and only up to a size limit,
streamed from a zip instead of trusting the sizes its directory declares.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_NODES = 200_000  # scalars, sequences and mappings, counting each alias as the whole it stands for
MAX_FILE_BYTES = 4 * 1024 * 1024  # one file of a package
MAX_PACKAGE_BYTES = 10 * 1024 * 1024  # all files of a package together
_CHUNK = 64 * 1024


class YAMLTooLarge(yaml.YAMLError):
    """A YAML text that would take unbounded work to load; `problem` says why (as PyYAML's errors do)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = None


def load_yaml(text: str) -> Any:
    """yaml.safe_load with limits on size, nesting and alias expansion (YAMLTooLarge, a yaml.YAMLError)."""
    if len(text) > MAX_YAML_BYTES:
        raise YAMLTooLarge(f"larger than {MAX_YAML_BYTES // 1024} KiB")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError as err:
        raise YAMLTooLarge("nested too deeply") from err
    if node is None:
        return None
    expanded_size(node)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def expanded_size(node: yaml.Node, limit: int = MAX_YAML_NODES) -> int:
    """How many nodes the document has once every alias is expanded; YAMLTooLarge past `limit`.

    Each distinct node is sized once (an alias is the same node object again), so this is linear in the
    text even when the expansion is exponential."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise YAMLTooLarge("an alias refers to a node that contains it")
        in_progress.add(key)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(child) for child in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        in_progress.discard(key)
        if total > limit:
            raise YAMLTooLarge(f"expands to more than {limit} values (aliases count as what they repeat)")
        sizes[key] = total
        return total

    try:
        return size(node)
    except RecursionError as err:
        raise YAMLTooLarge("nested too deeply") from err


class TooLarge(Exception):
    pass


def read_zip_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """An entry's bytes, streamed in chunks and stopped as soon as it passes `budget` or MAX_FILE_BYTES
    (TooLarge), whatever size the archive's directory declares."""
    limit = min(budget, MAX_FILE_BYTES)
    chunks: list[bytes] = []
    total = 0
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            total += len(chunk)
            if total > limit:
                raise TooLarge(f"unpacks to more than {limit // 1024} KiB")
            chunks.append(chunk)
    return b"".join(chunks)


def package_paths(root: Path, suffixes: frozenset[str]) -> Iterator[tuple[Path, str | None]]:
    """(path, problem) for every file a package may hold under root, in order; problem is None when it may be
    read. Hidden files and folders and other kinds of file are passed over without being opened, a file past
    MAX_FILE_BYTES or the package's total is named without being read."""
    total = 0
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") or part == "__MACOSX" for part in rel.parts) or path.suffix not in suffixes:
            continue
        if not path.is_file():
            continue
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            yield path, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: not read"
            continue
        total += size
        if total > MAX_PACKAGE_BYTES:
            yield path, f"the package passes {MAX_PACKAGE_BYTES // (1024 * 1024)} MiB here: not read"
            continue
        yield path, None
