"""Debian Chromium for every room: its flags and launch, the loopback guard, and the private event loops.

- :data:`CHROMIUM_ARGS` / :func:`chromium_args`: no background traffic, every host name but loopback resolves to
  nothing, a JavaScript heap cap per page; :func:`launch` starts it headless through Playwright.
- :func:`is_loopback` / :func:`loopback_guard`: a request guard that lets a page reach loopback only (the GUI
  agents). The site renderer locks a page tighter, to its own site's origin (``site/page_session.py``).
- :class:`LoopThread`: a long-lived event loop on a daemon thread, each call waited for with a hard timeout (the
  site renderer); :func:`run_detached`: one coroutine on its own loop in a daemon thread, waited for at most a
  while (one GUI test); :func:`off_loop`: a blocking call awaited from such a loop. Both loops work under a caller's
  running loop, and a page stuck in a loop cannot hang the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import urllib.parse
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
#: Chromium flags: no background traffic, every host name but loopback resolves to nothing, a heap cap per page.
CHROMIUM_ARGS: list[str] = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
    "--metrics-recording-only",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    # A page's JavaScript heap is capped: a runaway page crashes its tab instead of taking the machine's memory
    # (the site renderer sets its own cap from SiteSettings.page_memory_mb).
    "--js-flags=--max-old-space-size=2048",
]
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
#: data:, blob: and about: URLs never leave the page.
LOCAL_SCHEMES = ("data", "blob", "about")


def chromium_args(*, heap_mb: int | None = None, extra: Iterable[str] = ()) -> list[str]:
    """:data:`CHROMIUM_ARGS`, with the heap cap set to `heap_mb` when given, then `extra`."""
    args = list(CHROMIUM_ARGS)
    if heap_mb is not None:
        args = [a for a in args if not a.startswith("--js-flags")] + [f"--js-flags=--max-old-space-size={heap_mb}"]
    return [*args, *extra]


def require_chromium(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"Chromium not found at {path}; install it with `apt-get install -y chromium`")
    return path


async def launch(playwright: Any, path: Path = CHROMIUM, args: list[str] | None = None) -> Any:
    """A headless Chromium from `path` (never Playwright's own download) with `args` (default :func:`chromium_args`)."""
    require_chromium(path)
    return await playwright.chromium.launch(
        executable_path=str(path), headless=True, args=chromium_args() if args is None else args
    )


def is_loopback(url: str) -> bool:
    """Whether `url` stays on this machine: a loopback host, or a data:/blob:/about: URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return (parts.hostname or "") in LOOPBACK


async def loopback_guard(route: Any) -> None:
    """A Playwright route handler (``context.route("**/*", loopback_guard)``): loopback passes, the rest is aborted."""
    with contextlib.suppress(Exception):
        if is_loopback(route.request.url):
            await route.continue_()
        else:
            await route.abort("blockedbyclient")


class LoopThread:
    """A private event loop running on a daemon thread until :meth:`stop`; :meth:`call` runs one coroutine on it."""

    def __init__(self, name: str, on_error: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None] | None = None):
        self.name = name
        self.on_error = on_error
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._loop is not None

    def start(self) -> bool:
        """Start the loop unless it runs; True when a new loop was started."""
        if self._loop is not None:
            return False
        self._loop = asyncio.new_event_loop()
        if self.on_error is not None:
            self._loop.set_exception_handler(self.on_error)
        self._thread = threading.Thread(target=self._loop.run_forever, name=self.name, daemon=True)
        self._thread.start()
        return True

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """The result of `coro` run on the loop; TimeoutError after `timeout` s (the coroutine is then cancelled)."""
        if self._loop is None:
            coro.close()
            raise RuntimeError(f"{self.name}: start() first")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=timeout)
        except TimeoutError:
            future.cancel()  # its clean-up (closing a page) still runs on the loop's thread
            raise

    def stop(self, join_s: float = 5.0) -> None:
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(timeout=join_s)
        self._loop.close()
        self._loop = self._thread = None


async def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking call (a model request) in a daemon thread, so that a timeout can abandon it without joining it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def work() -> None:
        try:
            ok, value = True, fn(*args, **kwargs)
        except Exception as exc:
            ok, value = False, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: the caller has ended without us
            loop.call_soon_threadsafe(settle, ok, value)

    threading.Thread(target=work, name="webgen-off-loop", daemon=True).start()
    return await future


def run_detached(
    main: Callable[[], Coroutine[Any, Any, None]],
    *,
    name: str,
    wait_s: float,
    on_error: Callable[[BaseException], None],
) -> bool:
    """Run ``asyncio.run(main())`` in a daemon thread and wait at most `wait_s`; True when it ended in time.

    An exception of `main` goes to `on_error` (on that thread). A run that overstays is left to end on its own.
    """
    done = threading.Event()

    def work() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported through on_error, never raised on a thread nobody joins
            on_error(exc)
        finally:
            done.set()

    threading.Thread(target=work, name=name, daemon=True).start()
    return done.wait(wait_s)
