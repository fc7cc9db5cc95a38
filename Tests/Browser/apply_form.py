#!/usr/bin/env python3
"""Drives Tollgate's /apply form in headless Chromium (Selenium) and reports what it saw.

Usage: apply_form.py PLAN.json RESULT.json

PLAN: {"scenarios": {NAME: {"url": "https://127.0.0.1:PORT/apply", "steps": [STEP, ...]}, ...}}
(all run in one browser, one after the other, each from a fresh page) where a STEP is one of
  {"type": {"NAME": "text", ...}}      clear the input named NAME and type the text
  {"select": {"NAME": "value", ...}}   choose an option of the <select> named NAME
  {"check": {"ID": true|false, ...}}   set the checkbox with that id
  {"click": "ID"}                      click the element (a submit button) and wait for the new page
  {"snapshot": "LABEL"}                record the page (see below) under LABEL
RESULT: {NAME: {"snapshots": {LABEL: {...}}, "error": null | "..."}, ...} where a snapshot has the title,
the URL, every form control's value (inputs by name; checkboxes by id), the inline errors
(id -> text of every element with class "error"), the text of the elements with the ids the
acknowledgement page uses, the number of <script> elements, whether an alert is open, and
the page source.

Chromium runs with --headless=new, --no-sandbox (the suite runs as root, where Chromium's
sandbox refuses to start), --disable-dev-shm-usage (small /dev/shm in containers) and
--ignore-certificate-errors (the test server's certificate comes from its own test CA).
"""
import json
import sys

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ACK_IDS = ["application-id", "application-state", "status-token", "status-url", "verdict",
           "org-number", "subscriber-id", "signature", "error-summary"]


def driver():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--ignore-certificate-errors", "--window-size=1200,2000", "--no-first-run"]:
        options.add_argument(argument)
    # An explicit driver path: Selenium Manager (which would download one) never runs.
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def alert_open(browser):
    try:
        browser.switch_to.alert
        return True
    except NoAlertPresentException:
        return False


# Reads the page in one WebDriver call (one call per control costs seconds); the page itself
# has no JavaScript, this only inspects the DOM.
READ_PAGE = """
const controls = {};
for (const e of document.querySelectorAll('input, select')) {
  if (e.type === 'checkbox') controls[e.id] = e.checked; else controls[e.name] = e.value;
}
const errors = {};
for (const e of document.querySelectorAll('.error')) errors[e.id] = e.innerText;
const ids = {};
for (const id of arguments[0]) { const e = document.getElementById(id); if (e) ids[id] = e.innerText; }
return {title: document.title, url: location.href, controls: controls, errors: errors, ids: ids,
        scripts: document.getElementsByTagName('script').length, source: document.documentElement.outerHTML};
"""


def snapshot(browser):
    if alert_open(browser):
        return {"alert": True}
    page = browser.execute_script(READ_PAGE, ACK_IDS)
    page["alert"] = False
    return page


def run(browser, scenario):
    result = {"snapshots": {}, "error": None}
    try:
        if alert_open(browser):  # left open by a script an earlier scenario let run
            browser.switch_to.alert.dismiss()
        browser.delete_all_cookies()
        # A loaded machine can make the first load fail or lag: wait for the form, and
        # load again (a fresh form) if it did not come.
        for attempt in range(3):
            browser.get(scenario["url"])
            try:
                WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.TAG_NAME, "form"))
                break
            except TimeoutException:
                if attempt == 2:
                    raise
        for step in scenario["steps"]:
            if "type" in step:
                for name, text in step["type"].items():
                    element = browser.find_element(By.NAME, name)
                    if element.get_attribute("value"):
                        element.clear()
                    element.send_keys(text)
            elif "select" in step:
                for name, value in step["select"].items():
                    Select(browser.find_element(By.NAME, name)).select_by_value(value)
            elif "check" in step:
                for ident, wanted in step["check"].items():
                    box = browser.find_element(By.ID, ident)
                    if box.is_selected() != wanted:
                        box.click()
            elif "click" in step:
                old = browser.find_element(By.TAG_NAME, "html")
                browser.find_element(By.ID, step["click"]).click()
                WebDriverWait(browser, 30).until(lambda b: alert_open(b) or old.id != b.find_element(By.TAG_NAME, "html").id)
                # The new document may still be parsing: wait until it is complete.
                WebDriverWait(browser, 30).until(
                    lambda b: alert_open(b) or b.execute_script("return document.readyState") == "complete")
            elif "snapshot" in step:
                result["snapshots"][step["snapshot"]] = snapshot(browser)
    except Exception as error:  # reported to the Swift test, which fails with it
        result["error"] = f"{type(error).__name__}: {error}"
        try:
            result["snapshots"]["at-error"] = snapshot(browser)
        except Exception:
            pass
    return result


def main():
    plan = json.load(open(sys.argv[1]))
    results = {}
    browser = driver()  # one browser start for every scenario: it is the slow part
    try:
        for name, scenario in plan["scenarios"].items():
            results[name] = run(browser, scenario)
    finally:
        browser.quit()
    json.dump(results, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
