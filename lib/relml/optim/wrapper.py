"""`OptimizerWrapper`: the plumbing shared by optimizers that wrap another torch optimizer (HAM,
LookAhead, ModalLookAhead).

The wrapper does not call `Optimizer.__init__`: the param groups stay the base optimizer's own (read
through a property, so a base `load_state_dict` is seen too). It keeps torch's hook tables and runs the
step hooks itself (`_pre_step` / `_post_step`) rather than through Optimizer's profiling wrapper, whose
cost would double the per-step overhead on small models. Subclasses set their group defaults in
`_init_group` and implement `step`, `state` and the state dict.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["OptimizerWrapper"]


class OptimizerWrapper(torch.optim.Optimizer):
    """Base of the wrappers: `optimizer` is the wrapped base; `defaults` its defaults plus the wrapper's
    per-group keys (filled in by `_init_group` for every group, also on `add_param_group`)."""

    def __init__(self, optimizer: torch.optim.Optimizer, defaults: dict[str, Any]) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.defaults = {**optimizer.defaults, **defaults}
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict = OrderedDict()
        for group in self.param_groups:
            self._init_group(group)

    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.optimizer.param_groups

    @param_groups.setter
    def param_groups(self, groups: list[dict[str, Any]]) -> None:
        self.optimizer.param_groups = groups

    def _init_group(self, group: dict[str, Any]) -> None:
        """Fill in and check the wrapper's keys of one param group."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self.optimizer.add_param_group(param_group)
        self._init_group(self.param_groups[-1])

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def _pre_step(self, closure: Callable[[], Any] | None) -> None:
        for hook in self._optimizer_step_pre_hooks.values():
            if hook(self, (), {"closure": closure}) is not None:
                raise RuntimeError(f"{type(self).__name__} step pre-hooks may not replace the step's "
                                   "arguments")

    def _post_step(self, closure: Callable[[], Any] | None) -> None:
        for hook in self._optimizer_step_post_hooks.values():
            hook(self, (), {"closure": closure})

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)  # the wrapped optimizer too (Optimizer's own keeps only its groups)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
