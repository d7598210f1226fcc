"""The student's functions in a child process, so that their code cannot fool or hang the
grader.

:func:`isolated_solutions` returns a namespace like ``load_solutions``'s, whose functions
send their arguments to one child process (``_child.py``) and return the outputs it sends
back. The checks, their reference values and the verdicts stay in this process: code that
replaces ``np.allclose`` or the checker changes only the child's copy. An exercise whose
code runs longer than the time limit, calls ``sys.exit``/``os._exit`` or raises
``BaseException`` fails with a hint saying so; the child is then restarted for the next
exercise (files whose import hangs or ends the process are left out, with that hint). The
stub script train_small_cnn.py is not imported: it holds no exercise and imports minicnn.
"""
import io
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from ._child import read_frame, write_frame
from .catalog import TRAIN_SCRIPT
from .lang import hint

CHILD = Path(__file__).with_name("_child.py")
TIME_LIMIT = 10.0        # seconds per exercise (per call to a function while training)
START_LIMIT = 120.0      # seconds for the child to start (Python and NumPy): never the student's

# What a plain value (``_child.plain``) needs to be unpickled: NumPy arrays and scalars.
_PLAIN = {(m, n) for m in ("numpy._core.numeric", "numpy.core.numeric")
          for n in ("_frombuffer",)} | {
    (m, n) for m in ("numpy._core.multiarray", "numpy.core.multiarray")
    for n in ("scalar", "_reconstruct")} | {("numpy", "dtype"), ("numpy", "ndarray")}


class Failure(Exception):
    """A call that did not return a value, or broke a convention: ``status`` (FAIL or TODO)
    and ``hint`` ({"en": ..., "es": ...}) say why."""

    def __init__(self, status, hint):
        super().__init__(hint["en"])
        self.status, self.hint = status, hint


def _too_long(limit, top=False):
    """The hint of a call (or, ``top``, a file's import) that ran out of time."""
    return hint(f"took longer than {limit:g} s: an endless loop"
                f"{' at the top of the file' if top else ''}?",
                f"tardó más de {limit:g} s: ¿un ciclo infinito"
                f"{' al principio del archivo' if top else ''}?")


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _PLAIN:
            raise pickle.UnpicklingError(f"{module}.{name} is not a plain value")
        return super().find_class(module, name)


def _loads(data):
    try:
        return _PlainUnpickler(io.BytesIO(data)).load()
    except Exception as exc:                      # noqa: BLE001 (bytes from the child)
        return ("fail", "FAIL", hint(f"returned something the checker cannot read ({exc})",
                                     f"devolvió algo que el corrector no puede leer ({exc})"))


def _ended(code):
    """What a child's exit code says the student's code did."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return hint(f"the process running it was killed by {name}",
                    f"el proceso que lo corría fue terminado por {name}")
    return hint(f"ended the process running it (exit code {code}: os._exit or a crash); a "
                "solution must return its result",
                f"terminó el proceso que lo corría (código de salida {code}: os._exit o una "
                "caída); una solución debe devolver su resultado")


class Worker:
    """One child process with the student's files imported, restarted after a hang or exit."""

    def __init__(self, folder, limit=TIME_LIMIT):
        self.folder, self.limit = Path(folder), float(limit)
        self.proc, self.replies, self.proc_code = None, None, None
        self.found, self.import_errors, self.left_out = {}, {}, set()
        self.budget, self.per_call = self.limit, False

    # ------------------------------------------------------------------ the child process
    def _spawn(self):
        self.proc = subprocess.Popen([sys.executable, str(CHILD)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self.replies = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.replies),
                         daemon=True).start()
        try:
            ready = self.replies.get(timeout=START_LIMIT)
        except queue.Empty:
            ready = None
        if ready is None:
            self.stop(kill=True)
            raise RuntimeError(f"the checker's child process ({CHILD}) did not start within "
                               f"{START_LIMIT:g} s")

    @staticmethod
    def _read(stream, replies):
        while (data := read_frame(stream)) is not None:
            replies.put(data)
        replies.put(None)

    def _ask(self, message, seconds):
        """The child's reply to ``message``; Failure when it hangs or ends (it is stopped)."""
        if self.proc is None:
            self._start()
        try:
            write_frame(self.proc.stdin, pickle.dumps(message))
            data = self.replies.get(timeout=seconds)
        except queue.Empty:
            self.stop(kill=True)
            raise Failure("FAIL", _too_long(self.limit))
        except (BrokenPipeError, OSError):
            data = None
        if data is None:
            self.stop()
            raise Failure("FAIL", _ended(self.proc_code))
        return _loads(data)

    def _start(self):
        """Start a child and import the folder's files (those that hang or end it left out)."""
        while True:
            self._spawn()
            self.found.clear()
            try:
                for path in sorted(self.folder.glob("*.py")):
                    if path.name not in self.left_out and path.name != TRAIN_SCRIPT:
                        self._import(path)
                return
            except Failure as failure:
                self.left_out.add(path.name)
                self.import_errors[path.name] = (_too_long(self.limit, top=True)
                                                 if failure.hint == _too_long(self.limit)
                                                 else failure.hint)

    def _import(self, path):
        reply = self._ask(("import", str(path)), self.limit)
        if reply[0] == "ok":
            self.found.update({name: path.name for name in reply[1]})
            self.import_errors.pop(path.name, None)
        else:
            self.import_errors[path.name] = reply[2]

    def stop(self, kill=False):
        """End the child (if any): close its pipe, or kill it (``kill``, or after 1 s)."""
        if self.proc is None:
            return
        try:
            self.proc.kill() if kill else self.proc.stdin.close()
            self.proc.wait(timeout=1)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.proc_code, self.proc = self.proc.returncode, None

    # ------------------------------------------------------------------------ the grader
    def begin(self, per_call=False):
        """A new exercise: the time limit counts again (for each call when ``per_call``)."""
        self.budget, self.per_call = self.limit, per_call

    def call(self, name, args, kwargs):
        """(value, args, kwargs after the call) of the student's ``name``(*args, **kwargs),
        computed in the child; Failure if it returned nothing."""
        if self.per_call:
            self.budget = self.limit
        if self.proc is None:
            self._start()
        if self.budget <= 0:
            raise Failure("FAIL", _too_long(self.limit))
        start = time.monotonic()
        try:
            reply = self._ask(("call", name, args, kwargs), self.budget)
        finally:
            self.budget -= time.monotonic() - start
        if reply[0] != "ok":
            raise Failure(reply[1], reply[2])
        return reply[1]


class _Remote:
    """A student's function that runs in the worker's child process."""

    def __init__(self, worker, name):
        self.worker, self.__name__ = worker, name

    def __call__(self, *args, **kwargs):
        return self.worker.call(self.__name__, args, kwargs)[0]

    def call_keeping_args(self, *args, **kwargs):
        """(value, args, kwargs): the arguments as the call left them in the child."""
        return self.worker.call(self.__name__, args, kwargs)


def isolated_solutions(folder, names, limit=TIME_LIMIT):
    """(namespace, worker): ``names`` found in ``folder/*.py`` as functions run by a child
    process, plus ``_import_errors`` {file: message}. ``worker.stop()`` ends the child."""
    worker = Worker(folder, limit)
    worker._start()
    funcs = {name: _Remote(worker, name) for name in names if name in worker.found}
    return SimpleNamespace(**funcs, _import_errors=worker.import_errors), worker
