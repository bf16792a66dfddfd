"""A client that goes away in the middle of its upload costs one log line, not a traceback."""

import asyncio
import logging

import pytest

BOUNDARY = "zincfluorboundary"


def _disconnecting_upload(app, key: str) -> list[dict]:
    """Send ``POST /v1/screens`` as a multipart upload whose client disconnects after the first
    part of the body; returns what the app sent back."""
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"lib.smi\"\r\nContent-Type: text/plain\r\n\r\n" + "CCO\n" * 500).encode()
    messages = iter([
        {"type": "http.request", "body": body, "more_body": True},
        {"type": "http.disconnect"},
    ])
    sent: list[dict] = []

    async def receive():
        return next(messages, {"type": "http.disconnect"})

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/screens", "raw_path": b"/v1/screens",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {key}".encode()),
                    (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())],
    }
    asyncio.run(app(scope, receive, send))
    return sent


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_client_gone_mid_upload_is_one_log_line(service, caplog):
    key = service.new_key()
    with caplog.at_level(logging.INFO):
        _disconnecting_upload(service.app, key)  # raised ClientDisconnect before
    lines = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    assert "127.0.0.1:50000" in lines[0].getMessage()
    assert "POST /v1/screens" in lines[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)
    with service.state.sessions() as session:  # and no screen was made from half a file
        from api.orm import Screen

        assert session.query(Screen).count() == 0
