#!/usr/bin/python3
"""The console in a real headless browser (Debian's chromium, chromium-driver
and python3-selenium): log in, each page loads, a decision appears live,
hostile command text stays inert and visible, a verdict given in the page
releases a waiting lh validate, the page checks a proof itself and rejects
a tampered one, log out. Exits 77 (skipped) where no browser can run.
Run by test_web.c: /usr/bin/python3 test_browser.py CONSOLE_ENV"""
import os
import shutil
import subprocess
import sys
import time

from console import check, done, load_env, token, validate, wait_until

SKIP = 77
env = load_env(sys.argv[1])
chromium = shutil.which("chromium") or "/usr/bin/chromium"
chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError:
    print("test_browser: skipped: python3-selenium is not installed (ops/deps --test)")
    sys.exit(SKIP)
if not (os.access(chromium, os.X_OK) and os.access(chromedriver, os.X_OK)):
    print("test_browser: skipped: chromium or chromium-driver is not installed (ops/deps --test)")
    sys.exit(SKIP)

options = webdriver.ChromeOptions()
options.binary_location = chromium
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1400,1000"):
    options.add_argument(arg)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
try:
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
except WebDriverException as e:
    print(f"test_browser: skipped: chromium cannot start here: {str(e).splitlines()[0]}")
    sys.exit(SKIP)
driver.set_script_timeout(20)
url = env["URL"]


def find(css, timeout=10):
    return wait_until(lambda: (driver.find_elements(By.CSS_SELECTOR, css) or [None])[0], timeout)


def text(css):
    el = find(css, timeout=2)
    return el.text if el else ""


def console_errors():
    """CSP violations and script errors the page met."""
    try:
        return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
                and "favicon" not in e["message"]]
    except WebDriverException:
        return []


try:
    # Not logged in: every page sends us to the login page
    driver.get(url + "/review")
    check(bool(wait_until(lambda: driver.current_url.endswith("/login"))),
          "a page without a session goes to /login")
    find("#token").send_keys("lhr_" + "1" * 64)
    find("#login-submit").click()
    check(bool(wait_until(lambda: text("#login-error"))), "a wrong token shows an error")
    field = find("#token")
    field.clear()
    field.send_keys(token(env["ALICE_TOKEN_FILE"]))
    find("#login-submit").click()
    check(bool(wait_until(lambda: driver.current_url.rstrip("/") == url)), "login leads to /")
    check(not driver.get_cookie("lh_session") or driver.get_cookie("lh_session")["httpOnly"],
          "the session cookie is HttpOnly")
    check(driver.execute_script("return document.cookie.indexOf('lh_session')") == -1,
          "and scripts cannot read it")

    # Live decisions, including hostile text
    time.sleep(1.0)  # the stream is open
    hostile = ('echo "<script>window.__pwned=1</script>" '
               '"\\"><img src=x onerror=window.__pwned=2>" '
               'safe\u202egnp.exe zero\u200bwidth')
    validate(env, hostile)
    validate(env, "rm -rf /")

    def row_with(fragment):
        for row in driver.find_elements(By.CSS_SELECTOR, "#decisions tr.decision-row"):
            if fragment in row.text:
                return row
        return None

    row = wait_until(lambda: row_with("rm -rf /"), timeout=15)
    check(row is not None, "a decision appears live after lh validate")
    check(row is not None and "d-deny" in (row.get_attribute("class") or ""),
          "shown as a deny")
    hrow = wait_until(lambda: row_with("<script>"), timeout=10)
    check(hrow is not None, "the hostile command is shown as text")
    if hrow is not None:
        cell = hrow.find_element(By.CSS_SELECTOR, ".subject")
        shown = cell.text
        check("<script>window.__pwned=1</script>" in shown and "<img src=x onerror" in shown,
              "markup in the command is shown literally")
        check("\u202e" not in shown and "U+202E" in shown and "U+200B" in shown,
              "bidi and zero-width characters are made visible")
        check("suspicious" in (cell.get_attribute("class") or ""), "and the cell is marked")
        check(len(hrow.find_elements(By.TAG_NAME, "img")) == 0 and
              len(hrow.find_elements(By.TAG_NAME, "script")) == 0, "no element was made from it")
    check(driver.execute_script("return window.__pwned === undefined"), "no script of it ran")
    check(bool(find("#rate-chart")), "the rate chart is there")

    # Review: answer an escalation in the page
    waiting = validate(env, "sudo systemctl restart nginx", wait_ms=25000, background=True)
    driver.get(url + "/review")
    erow = wait_until(lambda: [r for r in driver.find_elements(By.CSS_SELECTOR, "tr.escalation-row")
                               if "systemctl" in r.text], timeout=15)
    check(bool(erow), "the escalation is in the review queue")
    if erow:
        check(bool(erow[0].find_elements(By.CSS_SELECTOR, ".countdown")), "with its countdown")
        erow[0].click()
        check(bool(wait_until(lambda: "systemctl" in text("#detail-command"))),
              "the detail shows the command")
        check(bool(wait_until(lambda: "nginx" in text("#detail-parse"))), "and its parse")
        find("#verdict-reason").send_keys("maintenance window")
        find("#approve").click()
        check(bool(wait_until(lambda: "approved" in text("#verdict-result").lower() or
                              "decided" in text("#verdict-result").lower())),
              f"the page reports the verdict ({text('#verdict-result')!r})")
        try:
            waiting.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            waiting.kill()
            waiting.communicate()
        check(waiting.returncode == 0,
              f"the waiting lh validate --wait returns allow ({waiting.returncode})")
    else:
        waiting.kill()

    # The log: the page checks a proof itself
    driver.get(url + "/log")
    check(bool(wait_until(lambda: text("#log-size") not in ("", "0"), timeout=15)),
          "the log page shows the size")
    check(bool(wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#replicas tr")) >= 3,
                          timeout=15)), "and the replicas")
    find("#seq").send_keys("0")
    find("#lookup").click()
    ok = wait_until(lambda: "proof-ok" in (find("#proof-result").get_attribute("class") or ""),
                    timeout=15)
    check(bool(ok) and text("#proof-result").startswith("verified"),
          f"the page verifies event 0 ({text('#proof-result')!r})")
    check("signature" in text("#proof-result"), "signatures included")

    # A man in the middle flips one byte of the event: the page must say no
    driver.execute_script("""
        const real = window.fetch;
        window.fetch = async (input, init) => {
            const r = await real(input, init);
            if (!String(input).includes('/api/log/event/')) return r;
            const body = await r.json();
            const bytes = atob(body.raw);
            body.raw = btoa(bytes.slice(0, 10) + String.fromCharCode(bytes.charCodeAt(10) ^ 1) +
                            bytes.slice(11));
            return new Response(JSON.stringify(body), {status: 200,
                headers: {'Content-Type': 'application/json'}});
        };""")
    field = find("#seq")
    field.clear()
    field.send_keys("0")
    find("#lookup").click()
    bad = wait_until(lambda: "proof-bad" in (find("#proof-result").get_attribute("class") or ""),
                     timeout=15)
    check(bool(bad) and text("#proof-result").startswith("REJECTED"),
          f"a tampered event is rejected by the page ({text('#proof-result')!r})")
    # and a proof whose path was altered
    driver.execute_script("""
        const real2 = window.fetch;
        window.fetch = async (input, init) => {
            const r = await real2(input, init);
            if (!String(input).includes('/api/log/event/')) return r;
            const body = await r.json();
            body.raw = body.raw;  // the event as it was
            if (body.proof.proof.length) body.proof.proof[0] = btoa('x'.repeat(32));
            else body.proof.size += 1;
            return new Response(JSON.stringify(body), {status: 200,
                headers: {'Content-Type': 'application/json'}});
        };""")
    driver.get(url + "/log")  # a fresh page: the first override goes away
    driver.execute_script("""
        const real3 = window.fetch;
        window.fetch = async (input, init) => {
            const r = await real3(input, init);
            if (!String(input).includes('/api/log/event/')) return r;
            const body = await r.json();
            if (body.proof.proof.length) body.proof.proof[0] = btoa('x'.repeat(32));
            else body.proof.size += 1;
            return new Response(JSON.stringify(body), {status: 200,
                headers: {'Content-Type': 'application/json'}});
        };""")
    find("#seq").send_keys("0")
    find("#lookup").click()
    bad = wait_until(lambda: "proof-bad" in (find("#proof-result").get_attribute("class") or ""),
                     timeout=15)
    check(bool(bad), f"an altered proof path is rejected ({text('#proof-result')!r})")

    # The cluster page
    driver.get(url + "/cluster")
    check(bool(wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".broker"), timeout=10)),
          "the cluster page shows the broker")
    check(bool(wait_until(lambda: "kill-broker.md" in text("#drills"), timeout=10)),
          "and the drill reports")
    check(driver.execute_script("return window.__pwned === undefined"), "no report script ran")

    errors = [e for e in console_errors() if "Content Security Policy" in e]
    check(not errors, f"no CSP violation in any page ({errors[:2]})")

    # Log out
    find("#logout").click() if find("#logout", timeout=3) else None
    check(bool(wait_until(lambda: driver.current_url.endswith("/login"))), "log out leads to /login")
    driver.get(url + "/")
    check(bool(wait_until(lambda: driver.current_url.endswith("/login"))),
          "and the pages want a login again")
finally:
    driver.quit()
done("test_browser")
