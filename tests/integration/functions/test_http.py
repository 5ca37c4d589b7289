"""HTTP triggers: routes, methods, auth levels and keys, errors; and the app model the host indexed."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from localcloud.functions import appmodel
from localcloud.functions.host import FunctionsHost
from tests.integration.functions.conftest import APP, Client

pytestmark = pytest.mark.integration


def test_route_parameters_constraints_and_query(client: Client) -> None:
    assert client.call("GET", "/api/hello/42?x=y", key=None)[2] == "hello 42 y"
    assert client.call("GET", "/api/hello/forty-two", key=None)[0] == 404  # {name:int}
    status, _, body = client.call("POST", "/api/hello/42", {}, key=None)
    assert status == 405 and "not allowed" in body["error"]


def test_function_level_needs_a_key_in_the_query_or_header(client: Client, host: FunctionsHost) -> None:
    status, _, body = client.call("POST", "/api/orchestrators/sequence", None, key=None)
    assert status == 401 and "key" in body["error"]
    assert client.call("POST", "/api/orchestrators/sequence?code=wrong", None, key=None)[0] == 401
    status, _, _ = client.call(
        "POST", "/api/orchestrators/sequence", None, key=None, headers={"x-functions-key": host.keys.function}
    )
    assert status == 202
    assert client.call("POST", "/api/orchestrators/sequence", None, key="master")[0] == 202


def test_a_chunked_body_reaches_the_function(client: Client, host: FunctionsHost) -> None:
    """HTTP/1.1 clients (the Azure SDK among them) may send a body chunked: the function sees it whole."""
    conn = http.client.HTTPConnection(urlsplit(host.url).netloc, timeout=30)
    path = f"/api/orchestrators/sequence/chunked-1?code={host.keys.function}"
    conn.request("POST", path, body=iter([b'{"n":', b" 3}"]), encode_chunked=True)
    assert conn.getresponse().status == 202
    status, _, body = client.call("GET", "/runtime/webhooks/durabletask/instances/chunked-1", key="system")
    assert status in (200, 202) and body["input"] == {"n": 3}, body  # 202 while the orchestration still runs


def test_a_body_past_the_request_body_limit_is_413(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "10")
    with FunctionsHost(APP, port=0, db_path=tmp_path / "hub.sqlite") as small:
        status, _, body = Client(small).call("POST", "/api/orchestrators/sequence", raw=json.dumps([0] * 10).encode())
    assert status == 413 and "limit of 10 bytes" in body["error"]["message"]


def test_admin_level_needs_the_master_key(client: Client) -> None:
    assert client.call("GET", "/api/admin-only", key="function")[0] == 401
    assert client.call("GET", "/api/admin-only", key="master")[2] == "admin"
    assert client.call("GET", "/admin/host/status", key="master")[2]["state"] == "Running"


def test_an_exception_in_the_app_is_a_500_with_a_json_body(client: Client) -> None:
    status, _, body = client.call("GET", "/api/boom", key=None)
    assert status == 500 and "RuntimeError: the app failed" in body["error"]
    assert client.call("GET", "/api/nothing-here", key=None)[0] == 404


def test_the_indexed_functions_and_their_triggers(host: FunctionsHost) -> None:
    kinds = {name: spec.trigger_type for name, spec in host.app.functions.items()}
    assert kinds["start"] == "httpTrigger" and kinds["tick"] == "timerTrigger"
    assert kinds["sequence"] == "orchestrationTrigger" and kinds["say"] == "activityTrigger"
    assert host.app.functions["start"].client_param == "client"
    assert (host.settings.max_activities, host.settings.max_orchestrators, host.settings.hub) == (3, 4, "TestHub")


def test_respots_own_function_app_loads_with_its_triggers() -> None:
    app = appmodel.load(Path(__file__).resolve().parents[3] / "function_app.py")
    assert {n: s.trigger_type for n, s in app.functions.items()} == {
        "health": "httpTrigger",
        "alerts": "httpTrigger",
        "alerts_handshake": "httpTrigger",
        "recover_vm": "orchestrationTrigger",
        "restart_vm": "orchestrationTrigger",
        "observe_vm": "orchestrationTrigger",
        "recovery_policy": "activityTrigger",
        "read_vm": "activityTrigger",
        "try_start": "activityTrigger",
        "check_operation": "activityTrigger",
        "raise_max_price": "activityTrigger",
        "user_action": "activityTrigger",
        "eviction_record": "activityTrigger",
        "redeploy_vm": "orchestrationTrigger",
        "restore_capacity": "orchestrationTrigger",
        "fleet_profile": "activityTrigger",
        "gather_market": "activityTrigger",
        "create_vm": "activityTrigger",
        "delete_vm": "activityTrigger",
        "read_scale_set": "activityTrigger",
        "set_capacity": "activityTrigger",
        "offerings": "entityTrigger",
        "member": "entityTrigger",
        "placements": "entityTrigger",
        "scaleset": "entityTrigger",
        "limiter": "entityTrigger",
        "roster": "entityTrigger",
        "sweep": "timerTrigger",
        "sweep_record": "orchestrationTrigger",
        "returns_timer": "timerTrigger",
        "return_to_spot": "orchestrationTrigger",
        "create_return": "activityTrigger",
        "delete_fallback": "activityTrigger",
        "dashboard": "httpTrigger",
    }
    assert app.functions["alerts"].trigger["route"] == "alerts" and app.functions["alerts"].client_param == "client"
    assert set(app.orchestrators) == {
        "recover_vm",
        "observe_vm",
        "restart_vm",
        "redeploy_vm",
        "restore_capacity",
        "sweep_record",
        "return_to_spot",
    }
    assert app.functions["sweep"].client_param == "client"
    assert app.functions["returns_timer"].client_param == "client"
    assert app.functions["returns_timer"].trigger["schedule"] == "0 */5 * * * *"


def test_an_unsupported_trigger_fails_at_start_naming_the_function(tmp_path: Path) -> None:
    bad = tmp_path / "function_app.py"
    bad.write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n"
        "@app.queue_trigger(arg_name='msg', queue_name='q', connection='AzureWebJobsStorage')\n"
        "def on_message(msg: func.QueueMessage) -> None:\n    pass\n"
    )
    with pytest.raises(appmodel.AppLoadError, match="function 'on_message': trigger 'queueTrigger' is not supported"):
        appmodel.load(bad)
    assert APP.exists()
