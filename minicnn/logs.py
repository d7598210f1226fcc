"""minicnn's diagnostics go through :mod:`logging`.

Library modules log to ``logging.getLogger(__name__)`` (loggers under ``"minicnn"``) and never
add handlers: a program using minicnn decides what it shows. A command of the ``minicnn``
program (:mod:`minicnn.cli`), or a sweep's task in its worker, shows them on stderr with
:func:`to_stderr`: plain lines, and ``minicnn: warning: ...`` for warnings and errors. What a
command is asked for (tables, predictions, the paths written) goes to stdout, not here.
"""
import contextlib
import logging
import sys

#: The levels of ``--quiet`` (warnings and errors only), the default, and ``--verbose``.
QUIET, DEFAULT, VERBOSE = logging.WARNING, logging.INFO, logging.DEBUG


class _Lines(logging.Formatter):
    def format(self, record):
        text = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"minicnn: {record.levelname.lower()}: {text}"
        return text


class _Stderr(logging.Handler):
    """Writes each message as a line to whatever ``sys.stderr`` is then (a redirected one
    too), between the lines of tqdm's progress bars rather than across them."""

    def __init__(self):
        super().__init__()
        self.setFormatter(_Lines())

    def emit(self, record):
        try:
            from tqdm import tqdm
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:                 # as logging's own handlers: never raise from here
            self.handleError(record)


@contextlib.contextmanager
def to_stderr(level=DEFAULT):
    """Within the block, minicnn's messages at ``level`` or above are lines on stderr (and
    only there); the ``"minicnn"`` logger is put back as it was afterwards."""
    logger = logging.getLogger("minicnn")
    saved = logger.handlers[:], logger.level, logger.propagate
    logger.handlers, logger.propagate = [_Stderr()], False
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.handlers, _, logger.propagate = saved
        logger.setLevel(saved[1])                # setLevel also clears the loggers' caches


def bar_disable(logger):
    """tqdm's ``disable`` for a command's bar: None (a bar on a terminal only) while
    ``logger`` shows progress, True (no bar) with ``--quiet``."""
    return None if shows_progress(logger) else True


def shows_progress(logger):
    """True when ``logger`` shows INFO messages: then a command writes its progress (a line
    per epoch, and bars on a terminal); with ``--quiet`` it does not."""
    return logger.isEnabledFor(logging.INFO)
