"""Screenshots of the /ui playground and dashboard for the docs (docs/img/ui-playground.png and
docs/img/ui-dashboard.png), taken with Debian's headless chromium through selenium against a real
`rewardkit serve` on 127.0.0.1 (the built-in model unless --model says otherwise).

    apt-get install chromium chromium-driver      # once
    .venv/bin/python scripts/ui_screenshots.py [--model PATH] [--out docs/img]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
EXTRA_ANSWER = "There are 19 integers in the solution set."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(model: str | None, port: int) -> subprocess.Popen:
    """`rewardkit serve` on 127.0.0.1:port, returned once /health answers 200."""
    cmd = [sys.executable, "-m", "rewardkit.cli", "serve", *([model] if model else []), "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--log-level", "warning"])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    raise SystemExit("the server did not answer /health within 300 s")


def browser() -> webdriver.Chrome:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        raise SystemExit("needs Debian's chromium and its driver: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)


def fit_and_save(driver: webdriver.Chrome, path: Path) -> None:
    """The whole page in one picture: the window grown to the document's height."""
    driver.execute_script("window.getSelection().removeAllRanges(); window.scrollTo(0, 0);")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, max(600, min(height + 20, 2400)))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    print(f"wrote {path}")


def traffic(url: str, stop: threading.Event) -> None:
    """Best-of-N groups from the page's own examples until told to stop, a few at a time."""
    examples = json.loads(httpx.get(url + "/ui/examples.json").text)["examples"]

    def one_client() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            k = 0
            while not stop.is_set():
                example = examples[k % len(examples)]
                turns = [{"role": "system", "content": example["system"]}] if example["system"] else []
                client.post("/best_of_n", json={"messages": turns + example["turns"], "candidates": example["answers"]})
                k += 1

    workers = [threading.Thread(target=one_client) for _ in range(3)]
    for worker in workers:
        worker.start()
    stop.wait()
    for worker in workers:
        worker.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="what `rewardkit serve` serves (default: the built-in model)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start(args.model, port)
    driver = browser()
    stop = threading.Event()
    try:
        driver.get(url + "/ui")
        wait = WebDriverWait(driver, 120)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#examples button"))
        driver.find_elements(By.CSS_SELECTOR, "#examples button")[0].click()
        driver.find_element(By.ID, "add-candidate").click()
        driver.find_elements(By.CSS_SELECTOR, "#candidates textarea")[-1].send_keys(EXTRA_ANSWER)
        driver.find_element(By.ID, "score").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#ranking tbody tr"))
        driver.find_element(By.ID, "copy-python").click()
        fit_and_save(driver, args.out / "ui-playground.png")

        load = threading.Thread(target=traffic, args=(url, stop))
        load.start()
        driver.set_window_size(1400, 900)
        driver.get(url + "/ui/metrics")
        wait.until(lambda d: d.find_elements(By.ID, "stat-scored-value"))
        time.sleep(6)  # a few refreshes under load, so the rates and percentiles cover a window
        fit_and_save(driver, args.out / "ui-dashboard.png")
    finally:
        stop.set()
        driver.quit()
        server.send_signal(signal.SIGTERM)
        server.wait(60)


if __name__ == "__main__":
    main()
