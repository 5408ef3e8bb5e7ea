"""A country's demo script: `workflows/<country>/demo.py`, loaded by path (docs/countries.md).

The generic machinery in `referral/demo/` (wipe the database, load the regions and the node directory
from the country folder, create the demo accounts, drive N cases through the real services, clone them
at scale) calls a country's script through the interface below; the script says which people, which
steps, which form values and which accounts. A script is a Python module of the country folder: it may
import `referral.*` services (it drives them), and nothing in `referral/` imports it except here.

A script defines, at module level:

- `DOMAIN: str`: the e-mail domain of the demo accounts (`<name>@<DOMAIN>`).
- `directory(session, network) -> None`: after the regions and `nodes.csv` / `corrections.csv` are
  loaded, the country's touches to the directory: the network functions (`assign`), places of shelters,
  nodes to retire. Flush, never commit.
- `users(network) -> Iterable[DemoUser]`: the demo accounts (all with `DEMO_PASSWORD`).
- `extras(ctx, network) -> None` (optional): what the demo shows beside cases (a plan, meetings), after the
  accounts exist; the caller commits.
- `Cases`: a class, `Cases(ctx, network, seed)`, whose `create(index) -> Case` files case number `index`
  and drives it through the services to some state, with the simulated clock it sets on `ctx.clock`.
  The same seed must give the same cases.
- `SCALE` (optional): a `ScaleScript` for `flask demo scale` (without it, the command refuses).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from ..config import EnvironmentSettings


@dataclass(frozen=True)
class DemoUser:
    """One demo account: `name` is the e-mail's local part; `node` a node code of the directory."""

    name: str
    node: str
    role: str
    description: str
    manages_node: bool = False


class CaseDriver(Protocol):
    """What `Cases(ctx, network, seed)` gives: `create(index)` files and drives one case."""

    real_now: Any  # the real time the simulated clock counts back from (datetime, UTC)

    def create(self, index: int) -> Any: ...


@dataclass(frozen=True)
class ScaleScript:
    """What `flask demo scale` needs of a country to clone prototype cases at national scale.

    - `stage_shares`: end stage (one `Cases` knows) -> share of the cases (sums to 1);
    - `max_shift_days`: end stage -> how many days back a clone's history may be shifted;
    - `draw(cases, seed, regions, today) -> [(stage, person)]`: every case's end stage and `Person`, in order
      (`referral.demo.scale.allocate(cases, stage_shares)` splits the count);
    - `prototype_key(stage, person)`: clones of one prototype share this key (one path through the protocol);
    - `build_prototype(cases, stage, person) -> Case`: drive the prototype of that key with a `Cases`;
    - `personal`: the form fields that are the person's; `personal_value(field, person, old)` the clone's value;
    - `renumber(stage, linked, serial) -> {field: value}`: a clone's own values of fields that must differ
      between clones (e.g. a court case number); `linked` says the prototype has case links;
    - `local_template`: the code of the node whose kind the network grows local detecting offices from;
    - `detecting(code)`: whether a node of this code may stand for a clone's detecting node;
    - `staff_roles`: the roles every node's grown staff has (beside those its institution's demo accounts have);
      `unstaffed_roles`: roles of demo accounts the grown staff never gets (e.g. administrators, auditors).
    """

    stage_shares: Mapping[str, float]
    max_shift_days: Mapping[str, float]
    draw: Callable[[int, int, list[str], Any], list[tuple[str, Any]]]
    prototype_key: Callable[[str, Any], tuple[Any, ...]]
    build_prototype: Callable[[Any, str, Any], Any]
    personal: frozenset[str]
    personal_value: Callable[[str, Any, Any], Any]
    renumber: Callable[[str, bool, int], Mapping[str, str]]
    local_template: str
    detecting: Callable[[str], bool]
    staff_roles: tuple[str, ...] = ()
    unstaffed_roles: tuple[str, ...] = ()


REQUIRED = ("DOMAIN", "directory", "users", "Cases")


def default_folder() -> Path:
    """The country folder the application runs when the environment names none."""
    fields = EnvironmentSettings.model_fields
    return Path(str(fields["workflows_dir"].default)) / str(fields["workflow"].default)


def country_folder(config: Mapping[str, Any]) -> Path:
    """The country folder of an app's configuration (WORKFLOWS_DIR / WORKFLOW)."""
    return Path(config["WORKFLOWS_DIR"]) / config["WORKFLOW"]


def load_script(folder: Path) -> ModuleType:
    """The demo script of a country folder, imported once by path; raise LookupError if it has none or it
    lacks a name of the interface."""
    path = (folder / "demo.py").resolve()
    name = "referral_country_demo_" + "".join(c if c.isalnum() else "_" for c in path.parent.name)
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None) == str(path):
        return module
    if not path.is_file():
        raise LookupError(f"{folder}: the country has no demo script (demo.py); see docs/countries.md")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look classes up by their module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    missing = [attribute for attribute in REQUIRED if not hasattr(module, attribute)]
    if missing:
        raise LookupError(f"{path}: the demo script lacks {', '.join(missing)} (docs/countries.md)")
    return module
