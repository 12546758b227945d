"""The notebook configurator: scale presets, parameter validation, seeding, device and threads.

A notebook's `parameters` cell holds plain assignments (`SCALE`, `SEED`, `DEVICE`, then the paper's
knobs, `None` meaning "the preset of this SCALE"); the next cell calls::

    cfg = relml.notebook.setup("random_pruning", globals())

which reads the upper-case names defined so far (so papermill's injected overrides count too),
rejects unknown names and bad values with a message saying what to pass, fills `None` from the
paper's presets (`relml.presets.<slug>.PARAMS`), seeds everything and prints the configuration.
"""

from __future__ import annotations

import ast
import importlib
import re
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from relml import papers
from relml.runtime import resolve_device, seed_everything, set_threads

SCALES = ("quick", "paper")
_PARAM_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")

Check = Callable[[str, Any], None]


class ParameterError(ValueError):
    """An unknown notebook parameter or a bad value; the message says what to pass instead."""


# ---------------------------------------------------------------------------------------------
# checks: small factories, each returning check(name, value) that raises ParameterError


def _fail(name: str, value: Any, expected: str) -> None:
    raise ParameterError(f"{name}={value!r}: expected {expected}")


def integer(lo: int | None = None, hi: int | None = None) -> Check:
    def check(name: str, value: Any) -> None:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or (lo is not None and value < lo) or (hi is not None and value > hi):
            _fail(name, value, f"an integer in [{lo if lo is not None else '-inf'}, "
                               f"{hi if hi is not None else 'inf'}]")
    return check


def real(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
         hi_open: bool = False) -> Check:
    def check(name: str, value: Any) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
        if ok and lo is not None:
            ok = value > lo if lo_open else value >= lo
        if ok and hi is not None:
            ok = value < hi if hi_open else value <= hi
        if not ok:
            left = "(" if lo_open else "["
            right = ")" if hi_open else "]"
            _fail(name, value, f"a number in {left}{lo if lo is not None else '-inf'}, "
                               f"{hi if hi is not None else 'inf'}{right}")
    return check


def choice(*options: Any) -> Check:
    def check(name: str, value: Any) -> None:
        if value not in options:
            _fail(name, value, f"one of {', '.join(map(repr, options))}")
    return check


def boolean() -> Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, bool):
            _fail(name, value, "True or False")
    return check


def sequence(item: Check, min_len: int = 1) -> Check:
    """A list or tuple of at least `min_len` items, each passing `item`."""
    def check(name: str, value: Any) -> None:
        if not isinstance(value, (list, tuple)) or len(value) < min_len:
            _fail(name, value, f"a list of at least {min_len} item(s)")
        for i, v in enumerate(value):
            item(f"{name}[{i}]", v)
    return check


def _device(name: str, value: Any) -> None:
    if not isinstance(value, str) or not (value in ("auto", "cpu", "cuda") or value.startswith("cuda:")):
        _fail(name, value, "'auto', 'cpu', 'cuda' or 'cuda:N'")


@dataclass(frozen=True)
class Param:
    """One notebook knob: its value at each scale, its check and a line of documentation."""

    quick: Any
    paper: Any
    check: Check
    doc: str = ""

    def preset(self, scale: str) -> Any:
        return self.quick if scale == "quick" else self.paper


COMMON: dict[str, Param] = {
    "SCALE": Param("quick", "paper", choice(*SCALES), "'quick' (seconds on a CPU) or 'paper'"),
    "SEED": Param(0, 0, integer(0), "base seed; multi-seed notebooks use SEED, SEED+1, ..."),
    "DEVICE": Param("auto", "auto", _device, "'auto' picks a CUDA GPU when present"),
}


def spec(slug: str) -> dict[str, Param]:
    """All parameters of a paper's notebook: the common ones, then `relml.presets.<slug>.PARAMS`."""
    papers.get(slug)
    try:
        module = importlib.import_module(f"relml.presets.{slug}")
    except ModuleNotFoundError as err:
        raise ParameterError(f"paper {slug!r} has no notebook yet (no relml.presets.{slug})") from err
    return {**COMMON, **module.PARAMS}


def resolve(slug: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `values` against the paper's spec and fill every `None` (or absent) from its presets."""
    params = spec(slug)
    unknown = sorted(set(values) - set(params))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)} for {slug}; "
                             f"known: {', '.join(params)}")
    scale = values.get("SCALE") or "quick"
    COMMON["SCALE"].check("SCALE", scale)
    out: dict[str, Any] = {}
    for name, p in params.items():
        value = values.get(name)
        value = p.preset(scale) if value is None else value
        if isinstance(value, list):
            value = tuple(value)
        p.check(name, value)
        out[name] = value
    return out


def parse_value(text: str) -> Any:
    """A command-line value as a Python literal ('0.5' → 0.5, '[1, 2]' → [1, 2]); else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


@dataclass
class Config:
    """The effective configuration of one notebook run; parameters read as attributes (`cfg.SEED`)."""

    slug: str
    values: dict[str, Any]
    device: torch.device
    threads: int
    generator: torch.Generator = field(repr=False)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(f"{self.slug} has no parameter {name!r}") from None

    @property
    def seeds(self) -> list[int]:
        """SEED, SEED+1, ... for the notebook's `SEEDS` count (1 if it has none)."""
        return [self.values["SEED"] + i for i in range(self.values.get("SEEDS", 1))]

    def __str__(self) -> str:
        width = max(map(len, self.values))
        lines = [f"{self.slug}: effective configuration"]
        lines += [f"  {k:<{width}} = {v!r}" for k, v in self.values.items()]
        lines += [f"  {'device':<{width}} = {self.device}", f"  {'threads':<{width}} = {self.threads}"]
        return "\n".join(lines)


def setup(slug: str, namespace: Mapping[str, Any], *, threads: int | None = None,
          quiet: bool = False) -> Config:
    """Resolve and validate a notebook's parameters, seed everything, pick device and threads.

    `namespace` is the notebook's `globals()`: every upper-case name bound to a plain value (not a
    class, function or module) is a parameter.
    """
    from relml.plotting import use_style

    # parameters are plain values; imported upper-case names (classes like HAM, modules) are not
    values = {k: v for k, v in namespace.items()
              if _PARAM_NAME.match(k) and not callable(v) and not isinstance(v, types.ModuleType)}
    resolved = resolve(slug, values)
    device = resolve_device(resolved["DEVICE"])
    cfg = Config(slug, resolved, device, set_threads(threads), seed_everything(resolved["SEED"]))
    use_style()
    if not quiet:
        print(cfg)
    return cfg


def check_names(slug: str, names: Sequence[str]) -> None:
    """Raise ParameterError if any name is not a parameter of the paper's notebook."""
    resolve(slug, {n: None for n in names})
