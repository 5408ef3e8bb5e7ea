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

ROOT = Path(__file__).resolve().parents[1]
CHILE = ROOT / "workflows" / "chile"

Mutation = Callable[[dict[str, Any]], None]


def copy_of_chile(tmp_path: Path, name: str = "broken") -> Path:
    folder = tmp_path / "workflows" / name
    shutil.copytree(CHILE, folder)
    return folder


def rewritten(tmp_path: Path, mutate: Mutation) -> Path:
    """A copy of the Chilean definition whose workflow.yaml went through `mutate`."""
    folder = copy_of_chile(tmp_path)
    path = folder / "workflow.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutate(raw)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
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
