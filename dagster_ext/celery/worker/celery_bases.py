"""Typed stand-ins for the Celery classes the worker tuning subclasses.

Why: Celery ships no type information, so to mypy its classes are `Any`, and a subclass of `Any`
is not checked at all: a misspelt override would pass unnoticed. Under type checking these
declarations stand in for Celery's classes and name only the members our subclasses override or
call, so those are checked against the signatures Celery calls them with. At run time the names are
Celery's own classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:

    class StartStopStep:
        """`celery.bootsteps.StartStopStep`: a consumer bootstep the worker starts and stops."""

        requires: tuple[str, ...]

        def __init__(self, parent: Any, **kwargs: Any) -> None: ...
        def start(self, parent: Any) -> None: ...
        def stop(self, parent: Any) -> None: ...
        def shutdown(self, parent: Any) -> None: ...

    class Request:
        """`celery.worker.request.Request`: the worker's view of one received task message."""

        id: str
        acknowledged: bool

        def acknowledge(self) -> None: ...

else:
    from celery.bootsteps import StartStopStep
    from celery.worker.request import Request

__all__ = ["Request", "StartStopStep"]
