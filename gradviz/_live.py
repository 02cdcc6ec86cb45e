"""What an explorer needs to answer a learner at once, in a running Jupyter kernel.

- :func:`from_front_end`: did this change come from the browser (a learner moving a
  control), or from code (a notebook cell, a test)? Code gets the final answer at
  once; a learner gets a quick first answer and then the final one.
- :class:`Worker`: one background thread that computes the latest job handed to
  it; a job handed over while another waits replaces it (the latest value wins).
  :meth:`Worker.start` hands its result back to the kernel's thread, and a job
  whose answer nobody waits for any more stops by raising :class:`Left`
  (:func:`reporter` raises it in a job that reports its progress).
- :func:`one_blas_thread`: BLAS on one thread while the kernel's thread and the
  worker compute side by side, so the two do not fight over the cores.

numpy releases the GIL inside its matrix products and element-wise loops, so
the worker computes while the kernel's thread draws and answers messages.
Only the kernel's thread touches the figure and the widgets. That is also the
thread on which ipykernel 6 handles widget messages; ipykernel 7 can handle them on
a thread of their own (kernel subshells), where ipympl's draws race the cells'
figures, which is why the project requires ipykernel<7 (README, "Reproducibility").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import threading
import time

__all__ = ["running_loop", "from_front_end", "post", "Left", "reporter", "Worker", "one_blas_thread",
           "on_one_blas_thread"]


def running_loop():
    """The asyncio event loop running in this thread (a kernel's), or None (a script, a test)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def post(loop, callback, *args) -> None:
    """Run ``callback(*args)`` in ``loop``'s thread, from any thread; nothing if the loop has closed
    (a kernel shut down while a worker was still computing: there is nobody left to answer)."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        pass


def _kernel_message_type():
    """The type of the message the kernel is handling now ('comm_msg', 'execute_request', ...), or None."""
    try:
        from ipykernel.kernelbase import Kernel
    except ImportError:
        return None
    if not Kernel.initialized():
        return None
    try:
        return Kernel.instance().get_parent("shell").get("header", {}).get("msg_type")
    except Exception:  # another kernel implementation, or no parent yet
        return None


def from_front_end(widgets=()) -> bool:
    """True when the kernel is handling a message from the browser: a learner moved a control or
    pressed a button. False in a notebook cell, a script or a test (no event loop runs there).

    A control's value set by the browser arrives through ipywidgets' ``set_state``,
    which holds the new value in the widget's ``_property_lock`` while observers run
    (so: one of ``widgets`` is being set by the browser); a button press arrives as a
    ``comm_msg`` that the kernel is handling.
    """
    if running_loop() is None:
        return False
    if any(getattr(w, "_property_lock", None) for w in widgets):
        return True
    return _kernel_message_type() == "comm_msg"


class Left(Exception):
    """Raised inside a job of :meth:`Worker.start` whose answer nobody waits for any more (the learner
    has moved on, or started a newer run): the job stops there."""


def reporter(loop, current, progress, every=0.1):
    """A ``callback(step, steps)`` for a job on a worker thread (e.g. :func:`gradviz.train.train`'s): it
    raises :class:`Left` once ``current()`` is False (a newer job replaced this one), and hands
    ``progress(step, steps)`` to ``loop``'s thread at most every ``every`` seconds (a few updates a second
    are enough for the eye) and at the last step."""
    last = [0.0]

    def report(step, steps):
        if not current():
            raise Left
        now = time.perf_counter()
        if now - last[0] >= every or step == steps:
            last[0] = now
            post(loop, progress, step, steps)

    return report


class Worker:
    """One background thread that runs the latest job submitted; a waiting job is replaced by a newer one.

    ``submit(job)`` returns at once. The thread starts when there is work and
    ends when there is none left, so an idle explorer holds no thread. A job is
    a callable without arguments; it must not touch the figure or the widgets
    (it hands its result to the kernel's event loop instead).
    """

    def __init__(self, name="gradviz-worker"):
        self.name = name
        self._lock = threading.Lock()
        self._next = None
        self._running = False

    def submit(self, job) -> bool:
        """Run ``job`` when the job now running (if any) is done; True if it replaced a waiting job."""
        with self._lock:
            replaced, self._next = self._next is not None, job
            if self._running:
                return replaced
            self._running = True
        threading.Thread(target=self._work, name=self.name, daemon=True).start()
        return replaced

    def start(self, work, done, failed, left=None) -> bool:
        """Compute ``work()`` on this worker, BLAS on one thread (:func:`one_blas_thread`), and hand the
        outcome to the event loop running in the calling thread (a kernel's, see :func:`post`):
        ``done(result)``, or ``failed(exc)`` if it raised, or ``left()`` (if given) if it raised
        :class:`Left`. Returns what :meth:`submit` returns."""
        loop = running_loop()

        def job():
            try:
                with one_blas_thread():
                    result = work()
            except Left:
                if left is not None:
                    post(loop, left)
                return
            except Exception as exc:  # shown in the kernel's log, as a callback's error would be
                post(loop, failed, exc)
                return
            post(loop, done, result)

        return self.submit(job)

    @property
    def busy(self) -> bool:
        """A job is running or waiting."""
        with self._lock:
            return self._running

    def _work(self):
        while True:
            with self._lock:
                job, self._next = self._next, None
                if job is None:
                    self._running = False
                    return
            job()


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limits = None
_controller = None
_controller_modules = 0  # len(sys.modules) when _controller inspected the loaded libraries


@contextlib.contextmanager
def one_blas_thread():
    """BLAS on one thread while any thread is inside this block (nested and concurrent uses count).

    threadpoolctl's limits are process-wide: two threads that each set and
    restored them could leave the wrong number behind; here the first to enter
    sets one thread and the last to leave restores the previous number.
    """
    global _blas_users, _blas_limits, _controller, _controller_modules
    with _blas_lock:
        if _blas_users == 0:
            from threadpoolctl import ThreadpoolController

            # inspecting the loaded libraries takes milliseconds: again only after new imports, which may have
            # loaded another BLAS (scipy brings its own OpenBLAS, which a controller made before it would not limit)
            if _controller is None or len(sys.modules) != _controller_modules:
                _controller = ThreadpoolController()
                _controller_modules = len(sys.modules)
            _blas_limits = _controller.limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limits.restore_original_limits()
                _blas_limits = None


def on_one_blas_thread(func):
    """Decorator: run ``func`` inside :func:`one_blas_thread`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return func(*args, **kwargs)

    return wrapper
