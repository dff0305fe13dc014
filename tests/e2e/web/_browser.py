"""Headless Debian Chromium, driven by selenium through the system ``chromedriver``.

Nothing is downloaded: the driver and the browser are the Debian packages ``chromium-driver``
and ``chromium`` (``apt-get install chromium chromium-driver``; ``.ci/run`` installs them),
given to selenium by path, so selenium-manager is never run (:func:`start_chromium` makes sure
of that), and Chromium's own background traffic (component and extension updates, DNS
prefetch, ...) is switched off, with every host name but ``localhost`` unresolvable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.selenium_manager import SeleniumManager

BROWSERS = ("chromium", "chromium-browser")
"""Executable names of the system Chromium (Debian's package installs ``chromium``)."""
DRIVER = "chromedriver"
INSTALL_HINT = "apt-get install chromium chromium-driver"

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-pings",
    "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    # Nothing resolves but localhost and 127.0.0.1 (the page): no other host is reachable.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


def in_ci() -> bool:
    """Whether ``CI`` is set (to anything but empty, 0, false or no): missing is a failure."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class BrowserMissingError(RuntimeError):
    """Raised when the system Chromium or chromedriver is not installed."""


@dataclass(frozen=True)
class Chromium:
    """Paths of the system browser and its driver."""

    browser: str
    driver: str


def find_chromium() -> Chromium:
    """The system Chromium and chromedriver.

    Raises:
        BrowserMissingError: If either is not on ``PATH``.
    """
    browser = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    driver = shutil.which(DRIVER)
    missing = [name for name, path in (("chromium", browser), (DRIVER, driver)) if not path]
    if browser is None or driver is None:
        raise BrowserMissingError(
            f"{' and '.join(missing)} not found on PATH (install with: {INSTALL_HINT})"
        )
    return Chromium(browser=browser, driver=driver)


def _no_selenium_manager(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("selenium-manager was asked for a driver: it must not download one")


@contextlib.contextmanager
def start_chromium(
    chromium: Chromium, *, width: int = 1280, height: int = 1024
) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with its console log kept (``driver.get_log("browser")``)."""
    options = webdriver.ChromeOptions()
    options.binary_location = chromium.browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromium.driver)
    # With an explicit driver path selenium skips selenium-manager (its driver finder); this
    # makes a change of that rule fail loudly instead of downloading a driver.
    with mock.patch.object(SeleniumManager, "binary_paths", _no_selenium_manager):
        driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """The SEVERE console entries since the last call (the log is emptied by reading it)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
