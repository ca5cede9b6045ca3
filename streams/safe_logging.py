"""One log record, one line: control characters in a message are escaped, whatever put them there.

Record keys, ids and reasons in log messages come from input. A key holding a newline could
start a forged log line, and an ANSI escape could rewrite the operator's terminal. Rather than
remember to escape each argument at each call, :func:`install` makes every log record escape
its formatted message (newlines, carriage returns, tabs, ANSI escapes and the other C0/C1
controls, U+2028/U+2029), for riskstream's loggers and those of Faust, aiokafka and the rest
alike. Tracebacks are formatted apart from the message and keep their lines.

>>> escape("rider-7\\nERROR forged\\x1b[2J")
'rider-7\\\\nERROR forged\\\\x1b[2J'
"""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape(text: str) -> str:
    """``text`` with every control character written as its Python escape (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class OneLineRecord(logging.LogRecord):
    """A log record whose message never spans lines."""

    def getMessage(self) -> str:  # noqa: N802 - logging's name
        return escape(super().getMessage())


def install() -> None:
    """Make every log record of this process a :class:`OneLineRecord` (call it where logging is configured)."""
    logging.setLogRecordFactory(OneLineRecord)
