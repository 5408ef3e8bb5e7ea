"""Broken copies of the Chilean definition for validator tests: copy workflows/chile/ into tmp_path,
change one place, and read the refusal."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from referral.workflow import DefinitionError, load_definition
from referral.workflow.definition import read_workflow

ROOT = Path(__file__).resolve().parents[1]
CHILE = ROOT / "workflows" / "chile"

Mutation = Callable[[dict[str, Any]], None]


def copy_of_chile(tmp_path: Path, name: str = "broken", single: bool = False) -> Path:
    """A copy of workflows/chile/ (split into workflow/*.yaml; `single`: in one workflow.yaml)."""
    folder = tmp_path / "workflows" / name
    shutil.copytree(CHILE, folder)
    if single:
        text = workflow_text(folder)
        shutil.rmtree(folder / "workflow")
        (folder / "workflow.yaml").write_text(text, encoding="utf-8")
    return folder


def workflow_text(folder: Path) -> str:
    """The workflow of `folder` as the text of one workflow.yaml: its workflow/*.yaml one after the other
    (their top-level keys are distinct, and no YAML anchor reaches from one file into another)."""
    if (folder / "workflow.yaml").is_file():
        return (folder / "workflow.yaml").read_text(encoding="utf-8")
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted((folder / "workflow").glob("*.yaml")))


def write_single(folder: Path, raw: dict[str, Any]) -> None:
    """Replace the workflow of `folder` by `raw`, written as one workflow.yaml."""
    if (folder / "workflow").is_dir():
        shutil.rmtree(folder / "workflow")
    (folder / "workflow.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")


def rewritten(tmp_path: Path, mutate: Mutation) -> Path:
    """A copy of the Chilean definition whose workflow went through `mutate` (written back as one
    workflow.yaml, so the single-file format is exercised too)."""
    folder = copy_of_chile(tmp_path)
    raw = read_workflow(folder)[0]
    mutate(raw)
    write_single(folder, raw)
    return folder


def refusal_of(folder: Path) -> str:
    with pytest.raises(DefinitionError) as caught:
        load_definition(folder)
    return str(caught.value)


def assert_names(message: str, *fragments: str) -> None:
    missing = [fragment for fragment in fragments if fragment not in message]
    assert not missing, f"the message does not name {missing}:\n{message}"


def setter(*path: Any, value: Any) -> Mutation:
    """Set raw[path[0]]...[path[-1]] = value."""
    def mutate(raw: dict[str, Any]) -> None:
        target = raw
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    return mutate


def deleter(*path: Any) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        target = raw
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(raw)
    return mutate
