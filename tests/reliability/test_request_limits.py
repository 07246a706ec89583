"""Hostile requests cost the service little: the key is checked before a body is read, a body over
`max_body_bytes` is refused with 413 as soon as it is known to be too large, and failed workbench
sign-ins are limited per client address."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx

from nbo.settings import ServiceSettings
from serving.security.ratelimit import SIGN_IN_FAILURES
from tests.conftest import Trained
from tests.server import Server

HUGE = 100_000_000  # the body a hostile client announces
ANSWER_TIMEOUT_S = 10  # a server that waits for the whole body never answers within this


def _raw_request(server: Server, head: str, body_parts: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    """Send a request head and some body, never the rest; return the status, headers and body of
    the answer the server gives without waiting for the rest (socket timeout otherwise)."""
    url = urlsplit(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=ANSWER_TIMEOUT_S) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode("latin-1"))
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break  # the server answered and stopped reading: what we hope for
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head_bytes, _, content = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, content


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def _head(path: str, key: str | None, framing: str) -> str:
    key_line = f"X-API-Key: {key}\n" if key else ""
    return (f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n{key_line}"
            f"{framing}\n")


def test_an_unauthenticated_huge_body_is_refused_401_before_it_is_read(served: Server) -> None:
    status, headers, content = _raw_request(served, _head("/v1/events", None, f"Content-Length: {HUGE}\n"),
                                            [b"{" + b" " * 65535])
    assert status == 401 and headers["content-type"].startswith("application/problem+json")
    assert json.loads(content)["title"] == "Unauthorized"
    status, _, content = _raw_request(served, _head("/v1/delinquency/batch", "nbo_risk_guessed",
                                                    f"Content-Length: {HUGE}\n"), [b"{" + b" " * 65535])
    assert (status, json.loads(content)["detail"]) == (401, "unknown API key")


def test_a_declared_length_over_the_limit_is_refused_413_before_the_body(served: Server, trained: Trained) -> None:
    status, headers, content = _raw_request(
        served, _head("/v1/events", trained.keys["app"], f"Content-Length: {HUGE}\n"), [])
    problem = json.loads(content)
    assert status == 413 and headers["content-type"].startswith("application/problem+json")
    assert problem["title"] == "PayloadTooLarge"
    assert str(ServiceSettings().max_body_bytes) in problem["detail"]


def test_a_chunked_body_is_refused_413_once_it_passes_the_limit(served: Server, trained: Trained) -> None:
    chunk = b" " * 65536
    over_limit = ServiceSettings().max_body_bytes // len(chunk) + 2
    parts = [b"1\r\n{\r\n", *[b"%x\r\n%s\r\n" % (len(chunk), chunk)] * over_limit]  # never the last chunk
    status, _, content = _raw_request(
        served, _head("/v1/events", trained.keys["app"], "Transfer-Encoding: chunked\n"), parts)
    assert status == 413 and json.loads(content)["title"] == "PayloadTooLarge"


def test_a_10000_customer_batch_is_within_the_body_limit(served: Server, trained: Trained) -> None:
    body = {"customer_ids": [f"C{n:08d}" for n in range(1, 10_001)], "lang": "zh"}
    assert len(json.dumps(body, indent=4)) < ServiceSettings().max_body_bytes
    response = httpx.post(f"{served.url}/v1/delinquency/batch", json=body, timeout=120,
                          headers={"X-API-Key": trained.keys["risk"]})
    assert response.status_code != 413, response.text[:300]


def _sign_in(address: str, server: Server, key: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, base_url=server.url, timeout=30) as client:
        return client.post("/workbench/login", data={"key": key, "lang": "en"})


def test_failed_sign_ins_are_limited_per_client_address(served: Server, trained: Trained) -> None:
    attempts = [_sign_in("127.0.0.7", served, f"nbo_rm_guess-{n}") for n in range(SIGN_IN_FAILURES + 3)]
    assert [r.status_code for r in attempts] == [401] * SIGN_IN_FAILURES + [429] * 3
    refused = attempts[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Too many failed sign-ins" in refused.text and 'id="login-error"' in refused.text
    assert _sign_in("127.0.0.7", served, trained.keys["rm"]).status_code == 429  # no oracle while blocked
    other = _sign_in("127.0.0.8", served, trained.keys["rm"])
    assert other.status_code == 303 and "nbo_workbench=" in other.headers["set-cookie"]
