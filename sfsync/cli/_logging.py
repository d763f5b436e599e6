"""Logging set-up: human text on a terminal, one JSON object per line for log shippers.

Every line a run logs carries the run id, the mapping, the direction and the mapping's live counts
(``sfsync.text.logfields`` binds them; :class:`LogFieldsFilter` copies them onto each record): as
top-level keys in JSON, as a short ``[run=… mapping=… direction=…]`` suffix in text.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

from sfsync.text.logfields import LogFieldsFilter

LogFormat = Literal["text", "json"]

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_TEXT_SUFFIX_FIELDS = ("run_id", "mapping", "direction")

# The format configure_logging last set: main prints its error line in it.
_current: dict[str, LogFormat] = {"format": "text"}


def current_log_format() -> LogFormat:
    return _current["format"]


def _fields_of(record: logging.LogRecord) -> dict[str, object]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRS and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra=`` keys and bound run fields become top-level fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields_of(record).items():
            payload.setdefault(key, value)
        if record.exc_info and record.exc_info[0] is not None:
            payload["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [run=… mapping=… direction=…]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields_of(record)
        shown = [
            f"{name.removesuffix('_id')}={str(fields[name])[:8] if name == 'run_id' else fields[name]}"
            for name in _TEXT_SUFFIX_FIELDS
            if fields.get(name) is not None
        ]
        return f"{text} [{' '.join(shown)}]" if shown else text


def configure_logging(verbosity: int = 0, log_format: LogFormat = "text") -> None:
    """Route the ``sfsync`` logger to stderr. ``-v`` = INFO, ``-vv`` = DEBUG."""
    _current["format"] = log_format
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logger = logging.getLogger("sfsync")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(LogFieldsFilter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
