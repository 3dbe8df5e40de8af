#!/usr/bin/env python3
"""Drives the served Swagger UI in headless Chromium as a person would: Authorize with a bearer
token, then "Try it out" and "Execute" on the metric list, and checks the answer is a 200.

    python swagger_ui_check.py BASE_URL TOKEN [SCREENSHOT.png]

Needs Debian's chromium and chromium-driver and the `selenium` package (a virtual environment is
enough). Loopback servers only.
"""
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

base, token = sys.argv[1], sys.argv[2]
shot = sys.argv[3] if len(sys.argv) > 3 else None
assert base.startswith(("http://127.0.0.1", "http://localhost")), "loopback only"

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--window-size=1400,2000"):
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 30)
try:
    driver.get(f"{base}/api-docs/")
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button.authorize"))).click()
    # The dialog has one container per scheme; fill the bearer one.
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".auth-container")))
    containers = driver.find_elements(By.CSS_SELECTOR, ".auth-container")
    bearer = next(c for c in containers if "bearer" in c.text.lower() and c.find_elements(By.CSS_SELECTOR, "input"))
    bearer.find_element(By.CSS_SELECTOR, "input").send_keys(token)
    bearer.find_element(By.CSS_SELECTOR, "button.authorize").click()
    driver.find_element(By.CSS_SELECTOR, "button.btn-done").click()
    op = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#operations-metrics-listMetrics .opblock-summary")))
    op.click()
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#operations-metrics-listMetrics button.try-out__btn"))).click()
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#operations-metrics-listMetrics button.execute"))).click()
    cell = wait.until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, "#operations-metrics-listMetrics .live-responses-table tbody .response-col_status")))
    time.sleep(0.5)
    status = cell.text.strip().split()[0]
    if shot:
        driver.save_screenshot(shot)
    print(f"Swagger UI: Authorize + Try it out on listMetrics answered {status}")
    sys.exit(0 if status == "200" else 1)
finally:
    driver.quit()
