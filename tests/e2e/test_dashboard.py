"""The recovery view in a real browser, and a recovery's telemetry, on localcloud.

The browser is Debian's ``chromium`` driven through its ``chromedriver`` (``make browser`` installs both; Selenium
Manager is never asked to download anything). Without them the browser test skips and says why, unless
``RESPOT_REQUIRE_BROWSER`` is set (CI sets it: there it must run).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import Stack
from tests.integration.helpers import control

pytestmark = pytest.mark.e2e
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOT = REPO / ".respot" / "dashboard.png"


def get(stack: Stack, path: str, key: str | None = None) -> tuple[int, str, dict[str, str]]:
    code = key if key is not None else stack.host.keys.function
    url = f"{stack.host.url}/api/{path}" + (f"?code={code}" if code else "")
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def screenshot(browser: Any, path: Path) -> Path:
    """Kept as a test artifact under .respot/ (a fresh clone has no such directory yet)."""
    path.parent.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(path))
    return path


def evicted_and_waiting(stack: Stack, name: str) -> tuple[str, str]:
    """An eviction whose first start fails for capacity: the recovery waits on a durable timer."""
    stack.alert_group()
    [vm_id] = stack.fleet([name])
    stack.capacity(0)
    stack.wait(lambda: stack.phase(vm_id) == "waiting", what="a start that failed for capacity")
    return vm_id, stack.recovery(vm_id)


def recovered(stack: Stack, vm_id: str) -> dict[str, Any]:
    stack.capacity(1)
    return stack.finished(vm_id)


# --- the JSON routes and the page, without a browser ---------------------------------------------------------


def test_the_dashboard_needs_the_function_key_and_shows_a_running_recovery_as_it_goes(stepped: Stack) -> None:
    vm_id, instance = evicted_and_waiting(stepped, "web")
    assert get(stepped, "dashboard", key="")[0] == 401
    assert get(stepped, "dashboard/recoveries", key="wrong")[0] == 401
    status, page, headers = get(stepped, "dashboard")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "connect-src 'self'" in headers["Content-Security-Policy"] and "{{nonce}}" not in page
    listed = json.loads(get(stepped, "dashboard/recoveries")[1])["recoveries"]
    assert [(r["instanceId"], r["vmName"], r["running"]) for r in listed] == [(instance, "web", True)]
    live = json.loads(get(stepped, f"dashboard/recoveries/{instance}")[1])
    kinds = [e["kind"] for e in live["events"]]
    assert kinds[0] == "eviction" and "attempt-failed" in kinds and "timer" in kinds
    assert any(e.get("code") == "ZonalAllocationFailed" for e in live["events"])
    fleets = json.loads(get(stepped, "dashboard/fleets")[1])
    assert [(v["name"], v["status"]) for v in fleets["vms"]] == [("web", "deallocated")]
    assert get(stepped, "dashboard/recoveries/not-a-recovery")[0] == 400
    out = recovered(stepped, vm_id)
    done = json.loads(get(stepped, f"dashboard/recoveries/{instance}")[1])
    assert done["outcome"] == out["outcome"] == "recovered" and done["events"][-1]["kind"] == "outcome"


def test_a_replacement_shows_its_ranked_candidates_what_replaced_what_and_its_fleet(
    stack_factory: Any, tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.e2e.test_redeploy import evict, fleets_file, members

    path = fleets_file(tmp_path)
    stack: Stack = stack_factory(RESPOT_LOG_WORKSPACE_ID="respot-workspace", RESPOT_FLEETS_FILE=path)
    stack.alert_group()
    [vm_id] = members(stack, ["web-1"])
    fleets = json.loads(get(stack, "dashboard/fleets")[1])
    assert fleets["fleets"] == [{"name": "web", "desired": 3, "members": 1, "running": 1}]
    evict(stack, vm_id)
    out = stack.finished(vm_id)
    page = json.loads(get(stack, f"dashboard/recoveries/{stack.recovery(vm_id)}")[1])
    assert (page["outcome"], page["reason"]) == ("recovered", "replaced") == (out["outcome"], out["reason"])
    assert page["candidates"][0]["size"] == out["ranking"]["ranked"][0]["size"] and page["choice"]
    assert page["replacement"]["new"]["id"] == out["replacement"]["new"]["id"]
    assert page["events"][0]["kind"] == "eviction" and page["events"][-1]["outcome"] == "recovered"
    assert any(e["kind"] == "attempt-succeeded" and e["title"].startswith("create") for e in page["events"])
    browser.get(f"{stack.host.url}/api/dashboard?code={stack.host.keys.function}#{stack.recovery(vm_id)}")
    wait = WebDriverWait(browser, 30)
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, '#timeline li[data-outcome="recovered"]')))
    first = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#candidates tr")))
    assert out["ranking"]["ranked"][0]["size"] in first.text
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#fleets"), "web"))
    assert screenshot(browser, SCREENSHOT.with_name("dashboard-replacement.png")).stat().st_size > 10_000


# --- the browser ---------------------------------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package")
    if missing:
        reason = f"no headless browser: {', '.join(missing)} missing (make browser installs Debian's chromium)"
        if os.environ.get("RESPOT_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)  # -ra (pyproject addopts) prints the reason in the summary
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never fetch a browser or a driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_renders_the_vms_timeline_eviction_failed_try_and_recovery(stepped: Stack, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    vm_id, instance = evicted_and_waiting(stepped, "web")
    wait = WebDriverWait(browser, 30)
    browser.get(f"{stepped.host.url}/api/dashboard?code={stepped.host.keys.function}")
    row = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f'#recoveries tr[data-instance="{instance}"]')))
    assert "web" in row.text
    row.click()
    eviction = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, '#timeline li[data-kind="eviction"]')))
    failed = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, '#timeline li[data-kind="attempt-failed"]')))
    assert "activity-log-alert" in eviction.text and "ZonalAllocationFailed" in failed.text
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#vms"), "web"))

    recovered(stepped, vm_id)  # the page, still open, follows the recovery to its end by polling
    done = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, '#timeline li[data-outcome="recovered"]')))
    assert "recovered" in done.text
    assert browser.find_elements(By.CSS_SELECTOR, '#timeline li[data-kind="attempt-succeeded"]')
    assert "ZonalAllocationFailed" in browser.find_element(By.CSS_SELECTOR, "#timeline").text
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(str(u).startswith(stepped.host.url) for u in resources)  # nothing from elsewhere
    logged = browser.get_log("browser")
    assert all(e["level"] != "SEVERE" for e in logged), logged  # no script error, no refused request
    assert screenshot(browser, SCREENSHOT).stat().st_size > 10_000


# --- telemetry -----------------------------------------------------------------------------------------------


def test_a_recoverys_metrics_and_log_records_carry_the_vm_and_its_instance_id(
    stepped: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from orchestrator import telemetry

    reader = InMemoryMetricReader()
    telemetry.use(MeterProvider(metric_readers=[reader]))
    caplog.set_level("INFO", logger="respot")
    try:
        control(
            stepped.arm, "/faults", {"error429": 1.0, "retryAfter": 60, "path": "/start$", "method": "POST", "count": 1}
        )
        vm_id, instance = evicted_and_waiting(stepped, "web")
        out = recovered(stepped, vm_id)
    finally:
        telemetry.use(None)
    assert out["outcome"] == "recovered"
    points = {
        m.name: list(m.data.data_points)
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    from orchestrator.domain.scope import parse_vm_id

    ids = {"respot.vm_id": parse_vm_id(vm_id).id, "respot.instance_id": instance}  # respot's id: lower case
    [recoveries] = points["respot.recoveries"]
    assert (recoveries.value, dict(recoveries.attributes)) == (1, {"outcome": "recovered", "reason": "evicted"})
    [evictions] = points["respot.evictions"]
    assert evictions.value == 1 and dict(evictions.attributes) == {
        "source": "activity-log-alert",
        "policy": "Deallocate",
    }
    [attempts] = points["respot.recovery.attempts"]
    assert ids.items() <= dict(attempts.attributes).items(), dict(attempts.attributes)
    assert attempts.sum == out["attemptCount"] >= 2
    [took] = points["respot.recovery.time_to_running"]
    assert ids.items() <= dict(took.attributes).items() and took.sum > 0
    [throttled] = points["respot.arm.throttled"]
    assert throttled.value == 1 and dict(throttled.attributes)["activity"] == "try_start"
    assert any(dict(p.attributes).get("route") == "start" for p in points["respot.signals"])
    ended = [r for r in caplog.records if getattr(r, "respot.instance_id", None) == instance]
    assert ended and all(getattr(r, "respot.vm_id") == ids["respot.vm_id"] for r in ended)
    assert any(getattr(r, "respot.outcome", None) == "recovered" for r in ended)  # once: never in a replay
    assert sum(getattr(r, "respot.outcome", None) == "recovered" for r in ended) == 1
