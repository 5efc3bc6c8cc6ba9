"""Plan: (suite, profile, overrides) -> fully resolved runs (``RunSpec``)."""
from . import precision
from .build import build_plan, resolve_hparams
from .overrides import Overrides, PlanError, validate
from .spec import RunSpec

__all__ = ["Overrides", "PlanError", "RunSpec", "build_plan", "precision", "resolve_hparams", "validate"]
