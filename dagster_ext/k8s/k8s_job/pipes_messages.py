"""Pipes messages read from the log lines `LogPump` streams out of the external pod.

`dagster-pipes` in the pod writes each message (opened, log, report_asset_materialization,
report_asset_check, closed, ...) as one JSON line on stderr, which the container log carries along
with everything else the process prints. The K8s Job's log is already streamed into Dagster while
the pod runs (`log_pump`), so the reader needs no log request of its own: each streamed line is
either a message, handed to Dagster's Pipes handler, or plain output, passed on to the op's log.
One stream for both means messages and plain lines keep their order, and a failed pod's last lines
are quoted in its failure as for `execute_k8s_job`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final, Protocol

from dagster import PipesMessageHandler, PipesMessageReader
from dagster_pipes import PIPES_PROTOCOL_VERSION_FIELD, PipesDefaultMessageWriter

# Where dagster-pipes in the pod writes its messages: stderr, which is part of the container log.
MESSAGE_WRITER_PARAMS: Final = {PipesDefaultMessageWriter.STDIO_KEY: PipesDefaultMessageWriter.STDERR}


def parse_pipes_message(line: str) -> dict[str, Any] | None:
    """The Pipes message a log line holds, None for any other line (plain output)."""
    text = line.strip()
    if not text.startswith("{") or PIPES_PROTOCOL_VERSION_FIELD not in text:
        return None  # cheap rejection: most lines are plain output
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if isinstance(message, dict) and PIPES_PROTOCOL_VERSION_FIELD in message:
        return message
    return None


class LineSink(Protocol):
    """What plain (non-message) lines are passed to."""

    def __call__(self, text: str) -> None: ...


class PipesK8sPodLogsMessageReader(PipesMessageReader):
    """Reads Pipes messages from the Pipes container's log, as streamed by `PipesK8sClient`.

    The name is dagster-k8s's, so code that passes `message_reader=PipesK8sPodLogsMessageReader()`
    keeps working. Unlike dagster-k8s's reader it opens no log request itself: the client streams
    the container's log once, and every line goes through `handle_line`.
    """

    def __init__(self) -> None:
        self._handler: PipesMessageHandler | None = None

    @contextmanager
    def read_messages(self, handler: PipesMessageHandler) -> Iterator[Mapping[str, Any]]:
        self._handler = handler
        try:
            yield dict(MESSAGE_WRITER_PARAMS)
        finally:
            self._handler = None

    def handle_line(self, line: str) -> bool:
        """Hand a message to the Pipes session; False for a plain line (the caller shows it)."""
        if self._handler is None:
            return False
        message = parse_pipes_message(line)
        if message is None:
            return False
        self._handler.handle_message(message)  # type: ignore[arg-type]
        return True

    def no_messages_debug_text(self) -> str:
        return (
            "Read the Pipes container's streamed log for messages; dagster-pipes in the pod writes "
            "them to stderr by default (open_dagster_pipes() with its default message writer)."
        )


class PipesLineRouter:
    """Send each streamed line to the message reader when it is ours, else to `plain`.

    With another message reader (a blob store, a file on a shared volume) no line is a message
    here: all of them are plain output and the reader collects messages its own way.
    """

    def __init__(self, reader: PipesMessageReader, plain: LineSink) -> None:
        self._reader = reader if isinstance(reader, PipesK8sPodLogsMessageReader) else None
        self._plain = plain

    def __call__(self, text: str) -> None:
        if self._reader is not None and self._reader.handle_line(text):
            return
        self._plain(text)
