"""Kept for Minari datasets collected before the package had stage folders: they recorded
``helpers.skills:make_env`` as their env's entry point. New code imports :mod:`helpers.envs`."""

from .envs.factory import make_env

__all__ = ["make_env"]
