"""Headless Chromium for tests that render pages (the demo and cohort reports).

When Chromium is missing the test is skipped, unless ``MIMIR_REQUIRE_BROWSER`` is set
(CI installs Chromium and sets it), in which case it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def chromium_or_skip() -> str:
    """Path of the Chromium executable; skip (or fail under MIMIR_REQUIRE_BROWSER)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("MIMIR_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (MIMIR_REQUIRE_BROWSER is set)")
        pytest.skip("no chromium on this machine (CI installs it)")
    return browser


def flags(profile: Path) -> list[str]:
    """Offline headless flags with a fresh profile."""
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
            "--virtual-time-budget=10000", "--run-all-compositor-stages-before-draw"]


def dump_dom(browser: str, page: Path, profile: Path) -> tuple[str, str]:
    """The page's DOM after loading, and Chromium's log (console messages included)."""
    res = subprocess.run([browser, *flags(profile), "--enable-logging=stderr", "--v=0",
                          "--dump-dom", page.resolve().as_uri()], capture_output=True,
                         text=True, timeout=180)
    return res.stdout, res.stderr


def load_page(page: Path, profile: Path) -> tuple[str, str]:
    """Chromium (or skip) and the page's DOM, asserting that nothing was logged to the
    console (no script error, no failed load)."""
    browser = chromium_or_skip()
    dom, log = dump_dom(browser, page, profile)
    assert console_messages(log) == []
    return browser, dom


def screenshot(browser: str, page: Path, shot: Path, profile: Path,
               size: str = "1280,3000") -> Path:
    """A PNG screenshot of the page."""
    subprocess.run([browser, *flags(profile), f"--screenshot={shot}",
                    f"--window-size={size}", page.resolve().as_uri()], capture_output=True,
                   timeout=180)
    assert shot.is_file(), f"chromium wrote no screenshot of {page}"
    return shot


def console_messages(log: str) -> list[str]:
    """Console messages and uncaught errors Chromium logged."""
    return [ln for ln in log.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
