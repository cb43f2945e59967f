"""Debian's Chromium, headless, driven by Selenium through Debian's chromedriver, with
what the browser tests need to see past JavaScript: the DevTools protocol's view of the
cookie store (HttpOnly cookies included) and of the network (the headers really sent,
the cookies withheld and why, the status of answers a page cannot read).

Never a downloaded browser: CHROMIUM and CHROMEDRIVER name the binaries (Debian's by
default), and Selenium Manager runs offline.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
# As root, in a container, on a machine whose network is closed: no sandbox (it needs user
# namespaces), no shared-memory assumptions, and none of Chromium's own background traffic.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,900",
)
WAIT_SECONDS = 15


class ChromiumMissing(Exception):
    pass


class ChromiumFailed(Exception):
    pass


class WaitTimedOut(AssertionError):
    pass


@dataclass
class Request:
    """One request as Chromium's network log saw it."""

    url: str = ""
    method: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # as sent, lower-cased names
    cookies: dict[str, list[str]] = field(default_factory=dict)  # name -> reasons withheld
    status: int | None = None


class Browser:
    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self._requests: dict[str, Request] = {}

    # ---------------------------------------------------------------- cookies
    def cookies(self) -> dict[str, dict[str, Any]]:
        """Every cookie Chromium stores, HttpOnly included (what JavaScript cannot see)."""
        stored = self.driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
        found = {}
        for cookie in stored:
            assert cookie["name"] not in found, f"two {cookie['name']} cookies stored"
            found[cookie["name"]] = cookie
        return found

    def delete_cookie(self, name: str, url: str) -> None:
        self.driver.execute_cdp_cmd("Network.deleteCookies", {"name": name, "url": url})

    def reset(self) -> None:
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.get("about:blank")
        self.network()
        self._requests.clear()  # forget what was logged so far

    # ---------------------------------------------------------------- network
    def network(self) -> list[Request]:
        """The requests logged since the last call (Chromium's performance log)."""
        order: list[str] = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            request_id = params.get("requestId")
            if request_id is None:
                continue
            if request_id not in self._requests:
                self._requests[request_id] = Request()
                order.append(request_id)
            request = self._requests[request_id]
            method = message["method"]
            if method == "Network.requestWillBeSent":
                request.url = params["request"]["url"]
                request.method = params["request"]["method"]
            elif method == "Network.requestWillBeSentExtraInfo":
                request.headers = {k.lower(): v for k, v in params["headers"].items()}
                request.cookies = {
                    c["cookie"]["name"]: c["blockedReasons"]
                    for c in params.get("associatedCookies", [])
                }
            elif method == "Network.responseReceivedExtraInfo":
                request.status = params["statusCode"]
            elif method == "Network.responseReceived" and request.status is None:
                request.status = params["response"]["status"]
        return [self._requests[request_id] for request_id in order]

    def requests_to(self, prefix: str, count: int) -> list[Request]:
        """Waits until ``count`` requests to URLs under ``prefix`` have been answered."""
        seen: list[Request] = []
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            seen += [r for r in self.network() if r.url.startswith(prefix)]
            if len(seen) >= count and all(r.status is not None for r in seen):
                return seen
            if time.monotonic() > deadline:
                return seen
            time.sleep(0.1)

    def answered(self, *prefixes: str) -> list[tuple[str, Request]]:
        """The logged requests (with their ids) to URLs under any of the prefixes."""
        return [
            (request_id, request)
            for request_id, request in self._requests.items()
            if request.url.startswith(prefixes)
        ]

    def response_body(self, request_id: str) -> str:
        answer = self.driver.execute_cdp_cmd("Network.getResponseBody", {"requestId": request_id})
        return str(answer.get("body", ""))

    # ------------------------------------------------------------------ pages
    def wait(self, condition: Any, what: str) -> Any:
        try:
            return WebDriverWait(self.driver, WAIT_SECONDS).until(condition)
        except TimeoutException:
            raise WaitTimedOut(
                f"timed out waiting for {what} on {self.driver.current_url}"
            ) from None

    def element(self, element_id: str) -> Any:
        return self.driver.find_element(By.ID, element_id)

    def click(self, button: str) -> Any:
        """Clicks, then waits for the page to report the call it made (#result)."""
        result = self.element("result")
        before = int(result.get_attribute("data-seq"))
        self.element(button).click()
        self.wait(
            lambda _: int(result.get_attribute("data-seq")) > before, f"the answer to #{button}"
        )
        return result

    def javascript_view(self) -> dict[str, Any]:
        """Everything the page's own JavaScript can read back of what it stored or shows."""
        return dict(
            self.driver.execute_async_script(
                """
                const done = arguments[arguments.length - 1];
                const dump = (s) => Object.fromEntries(
                  Array.from({length: s.length}, (_, i) => [s.key(i), s.getItem(s.key(i))]));
                (async () => {
                  const databases = indexedDB.databases ? await indexedDB.databases() : [];
                  const caches = self.caches ? await self.caches.keys() : [];
                  done({
                    cookie: document.cookie,
                    localStorage: dump(localStorage),
                    sessionStorage: dump(sessionStorage),
                    indexedDB: databases.map((d) => d.name),
                    caches,
                    dom: document.documentElement.outerHTML,
                  });
                })();
                """
            )
        )


def launch(profile_dir: Path, log_path: Path) -> Browser:
    """A new headless Chromium with an empty profile and the network log on."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        raise ChromiumMissing(
            f"Chromium is required for the browser tests and {', '.join(missing)} is missing: "
            "install Debian's packages (`apt-get install chromium chromium-driver`, as .ci/run "
            "does) or point CHROMIUM and CHROMEDRIVER at a Chromium and its chromedriver."
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # Both paths are given, so Selenium Manager has nothing to find; offline, it could not
    # download a browser or a driver even if it tried.
    previous = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"
    try:
        driver = webdriver.Chrome(
            options=options, service=Service(str(CHROMEDRIVER), log_output=str(log_path))
        )
    except Exception as error:
        tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
        message = f"Chromium did not start: {type(error).__name__}: {error}\n{tail}"
        raise ChromiumFailed(message) from error
    finally:
        if previous is None:
            os.environ.pop("SE_OFFLINE", None)
        else:
            os.environ["SE_OFFLINE"] = previous
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(WAIT_SECONDS)
    return Browser(driver)


@contextlib.contextmanager
def running(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Browser]:
    """A browser for one test module (a module fixture's body). Chromium missing is a
    failure, not a skip: .ci/run installs it."""
    try:
        browser = launch(
            tmp_path_factory.mktemp(f"chromium-{name}"),
            tmp_path_factory.mktemp(f"chromedriver-{name}") / "chromedriver.log",
        )
    except (ChromiumMissing, ChromiumFailed) as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield browser
    finally:
        browser.driver.quit()
