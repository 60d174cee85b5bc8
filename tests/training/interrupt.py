"""Interrupting a training run at a given iteration (for the resume tests)."""

from __future__ import annotations

import pytest


class Interrupted(Exception):
    """Raised by :func:`train_until` to stop a run."""


def train_until(train, iteration: int, *args, **kwargs) -> None:
    """Call ``train(*args, **kwargs)`` and stop it right after ``iteration``."""

    def stop(it, _loss):
        if it == iteration:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(*args, on_progress=stop, **kwargs)
