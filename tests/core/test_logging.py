"""Each request is logged as one JSON line carrying its request id."""

import io
import json
import logging

from timebank.core.web import JsonFormatter


def test_request_is_logged_as_json_with_its_request_id(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("timebank.request")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        response = client.get("/healthz", headers={"X-Request-ID": "req-12345678"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == "req-12345678" == response.headers["X-Request-ID"]
    assert line["path"] == "/healthz"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert isinstance(line["ms"], float)


def test_a_malformed_incoming_request_id_is_replaced(client):
    response = client.get("/healthz", headers={"X-Request-ID": "bad id; with spaces"})
    assert response.headers["X-Request-ID"] != "bad id; with spaces"
    assert len(response.headers["X-Request-ID"]) == 32
