"""The recovery view's page (orchestrator/app/static/dashboard.html) and routes, without a browser: function auth,
nothing fetched from elsewhere, nothing rendered as markup."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from orchestrator.app import dashboard
from tests.unit.test_function_app import functions


def test_the_page_and_its_json_are_one_get_with_function_auth() -> None:
    triggers = [f.get_trigger() for f in functions().values()]
    [trigger] = [t for t in triggers if str(getattr(t, "route", None) or "").startswith("dashboard")]
    assert trigger.route == "dashboard/{view?}/{instance?}"  # one function: one function key opens the view
    assert str(trigger.auth_level).lower().endswith("function")
    assert [getattr(m, "value", m) for m in trigger.methods] == ["GET"]


def test_views_that_do_not_exist_are_a_404_and_the_bare_route_is_the_page() -> None:
    client = Client("none")
    for params in ({"view": "nope"}, {"view": "fleets", "instance": "x"}):
        assert asyncio.run(dashboard.serve(params, client)).status_code == 404  # type: ignore[arg-type]
    page = asyncio.run(dashboard.serve({"view": "", "instance": ""}, client))  # type: ignore[arg-type]
    assert page.mimetype == "text/html" and client.asked == []


def test_the_page_is_one_file_that_fetches_nothing_from_elsewhere_and_renders_text_only() -> None:
    html = dashboard.PAGE.read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]*\b(src|href)=\"(?!data:)", html, re.IGNORECASE)
    assert not re.search(r"https?://", html) and "@import" not in html and "url(" not in html
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in html, sink
    assert html.count('nonce="{{nonce}}"') == 2 and '<meta name="referrer" content="no-referrer">' in html


def test_each_answer_has_its_own_nonce_and_a_policy_that_allows_only_this_app() -> None:
    first, second = dashboard.page(), dashboard.page()
    policy = first.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce and f'nonce="{nonce.group(1)}"' in first.get_body().decode()
    assert policy != second.headers["Content-Security-Policy"] and "default-src 'none'" in policy
    assert "connect-src 'self'" in policy and first.mimetype == "text/html"


class Status:
    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id

    def to_json(self) -> dict[str, Any]:
        return {"instanceId": self.instance_id, "runtimeStatus": "Completed", "createdTime": self.instance_id[-4:]}


class Client:
    """The durable client as far as the recoveries route uses it: one page per prefix query."""

    def __init__(self, full: str) -> None:
        self.full, self.asked = full, list[str]()

    async def get_status_by(self, instance_id_prefix: str) -> list[Status]:
        self.asked.append(instance_id_prefix)
        if instance_id_prefix != self.full:
            return [Status(f"{instance_id_prefix}00000000000000000000000-0001")]
        ids = [f"{instance_id_prefix}{n:023x}-0001" for n in range(50)]
        return [Status(i) for i in ids] + [Status(f"{i}:restart") for i in ids]


def test_recoveries_are_listed_by_hash_digit_and_a_full_page_is_said() -> None:
    client = Client("respot-a")
    body = json.loads(asyncio.run(dashboard.recoveries(client)).get_body())  # type: ignore[arg-type]
    assert len(client.asked) == 16 and all(p.startswith("respot-") for p in client.asked)
    assert len(body["recoveries"]) == 15 + 50 and body["truncated"]
    assert not any(":" in r["instanceId"] for r in body["recoveries"])
