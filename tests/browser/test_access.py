"""Without a valid rm or risk session every workbench page sends the browser to the login form."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from serving.workbench.charts import Bars, encode
from serving.workbench.i18n import LANGS, labels
from serving.workbench.session import COOKIE, SECRET_FILE, issue
from tests.conftest import Trained
from tests.server import Server

CHART = encode(Bars(title="t", labels=["a"], values=[1.0]))
FORGED = issue(b"not the service's secret", "rm", "any key")


@pytest.mark.parametrize("cookie", [None, "garbage", FORGED, FORGED.split(".")[0] + ".", "a.b.c"])
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/workbench"),
    ("GET", "/workbench?q=C0"),
    ("GET", "/workbench/customers/C00000001"),
    ("GET", "/workbench/monitoring"),
    ("GET", f"/workbench/chart.svg?spec={CHART}"),
    ("POST", "/workbench/customers/O0000000001/feedback"),
])
def test_no_valid_session_redirects_to_login(server: Server, method: str, path: str, cookie: str | None) -> None:
    cookies = {COOKIE: cookie} if cookie else {}
    response = httpx.request(method, f"{server.url}{path}", cookies=cookies, timeout=30,
                             data={"decision_id": "0" * 32, "product_id": "X", "outcome": "accepted"}
                             if method == "POST" else None)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/workbench/login")


def test_login_and_static_need_no_session_and_keep_the_strict_csp(server: Server) -> None:
    for path in ("/workbench/login", "/workbench/static/workbench.css"):
        response = httpx.get(f"{server.url}{path}", timeout=30)
        assert response.status_code == 200
        assert response.headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"
    assert httpx.get(f"{server.url}/workbench/static/../app.py", timeout=30).status_code == 404


def test_a_session_signs_in_and_the_chart_is_svg(server: Server, trained: Trained) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        signed_in = client.post("/workbench/login", data={"key": trained.keys["rm"], "lang": "en"})
        assert signed_in.status_code == 303 and "HttpOnly" in signed_in.headers["set-cookie"]
        chart = client.get("/workbench/chart.svg", params={"spec": CHART})
        assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
        assert chart.text.lstrip().startswith("<?xml") and "<svg" in chart.text
        assert client.get("/workbench/chart.svg", params={"spec": "bm90IGpzb24"}).status_code == 422
        other_site = client.post("/workbench/login", data={"key": trained.keys["rm"]},
                                 headers={"Sec-Fetch-Site": "cross-site"})
        assert other_site.status_code == 403
        too_many = client.post("/workbench/login", content="&".join(f"f{i}=1" for i in range(20)),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert too_many.status_code == 422
        client.post("/workbench/logout")
        assert client.get("/workbench").status_code == 303


def test_the_session_secret_is_private_to_the_service(server: Server, trained: Trained) -> None:
    secret = Path(trained.env["NBO_STATE_DIR"]) / SECRET_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(bytes.fromhex(secret.read_text())) == 32


def test_every_label_exists_in_both_languages() -> None:
    english, chinese = (labels(lang) for lang in LANGS)
    assert {g: set(v) for g, v in english.items()} == {g: set(v) for g, v in chinese.items()}
