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


def dump_dom(browser: str, page: Path, profile: Path,
             size: str | None = None) -> tuple[str, str]:
    """The page's DOM after loading (in a window of ``size``, "W,H", when given), and
    Chromium's log (console messages included)."""
    window = [f"--window-size={size}"] if size else []
    res = subprocess.run([browser, *flags(profile), *window, "--enable-logging=stderr",
                          "--v=0", "--dump-dom", page.resolve().as_uri()],
                         capture_output=True, text=True, timeout=180)
    return res.stdout, res.stderr


def load_page(page: Path, profile: Path, size: str | None = None) -> tuple[str, str]:
    """Chromium (or skip) and the page's DOM, asserting that nothing was logged to the
    console (no script error, no failed load)."""
    browser = chromium_or_skip()
    dom, log = dump_dom(browser, page, profile, size)
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


#: Narrowest window headless Chromium lays a page out in; narrower widths are tested by
#: framing the page (see :func:`framed`).
MIN_WINDOW = 500


def framed(page: Path, width: int, height: int, dest: Path) -> Path:
    """A page showing ``page`` in a ``width`` x ``height`` frame at its top left, for
    widths below :data:`MIN_WINDOW`: the framed page lays out as in a window of that
    width (its media queries and its viewport are the frame's), and the attributes its
    script records on its root are copied to this page's root once it has loaded."""
    import html

    doc = html.escape(page.read_text(encoding="utf-8"), quote=True)
    dest.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><style>body{margin:0}"
        f"iframe{{border:0;width:{width}px;height:{height}px;display:block}}</style>"
        f"</head><body><iframe id='f' srcdoc=\"{doc}\"></iframe><script>"
        "window.addEventListener('load', function () {"
        " var r = document.getElementById('f').contentDocument.documentElement;"
        " for (var i = 0; i < r.attributes.length; i++) {"
        "  var a = r.attributes[i]; if (a.name.indexOf('data-') === 0)"
        "   document.documentElement.setAttribute(a.name, a.value); }"
        "});</script></body></html>", encoding="utf-8")
    return dest
