"""Unit tests of the served port's guard as an ASGI app (`guard/msty_mlx_guard_app.py`), driven
with hand-made scopes: the header shapes a real server rarely produces (duplicates, odd Host
spellings, WebSocket and lifespan scopes, streamed responses) and the token comparison.

Stdlib only (the guard ships without dependencies). Run by `launcher-tests/guard.rs`
(`the_guards_python_unit_tests_pass`) with the test CPython: `python3 -I -B guard/tests/test_guard_app.py`.
"""

import asyncio
import hashlib
import hmac
import json
import os
import sys
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import msty_mlx_guard_app as guard_app  # noqa: E402 - after the guard's directory is on sys.path

TOKEN = b"unit-test-token-0123456789abcdef"
BEARER = (b"authorization", b"Bearer " + TOKEN)
ALLOWED = b"app://msty"


class App:
    """mlx-knife's side: records what reached it, answers as Starlette's CORSMiddleware would
    (every origin echoed, with credentials), in `chunks` body messages."""

    def __init__(self, chunks=1):
        self.scopes = []
        self.chunks = chunks

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"text/plain"), (b"access-control-allow-credentials", b"true")]
        origin = dict(scope["headers"]).get(b"origin")
        if origin is not None:
            headers += [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(self.chunks):
            await send({"type": "http.response.body", "body": b"x", "more_body": i + 1 < self.chunks})


def call(headers, *, kind="http", method="GET", bind="127.0.0.1", token=TOKEN, origins=(ALLOWED,), app=None):
    """The messages the guard (around `app`) sends for one request, and the app."""
    app = app or App()
    guard = guard_app.Guard(app, bind, token, frozenset(origins))
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": kind, "headers": list(headers)}
    if kind == "http":
        scope["method"] = method
    asyncio.run(guard(scope, receive, send))
    return sent, app


def status(headers, **kw):
    return call(headers, **kw)[0][0]["status"]


def response_headers(sent):
    return [(k.lower(), v) for k, v in sent[0]["headers"]]


class HostTests(unittest.TestCase):
    def test_loopback_spellings_pass(self):
        for host in [b"localhost", b"LOCALHOST:1", b"localhost.", b"127.0.0.1", b"127.9.9.9:80", b"[::1]:8000"]:
            self.assertEqual(status([(b"host", host), BEARER]), 200, host)
        for host in [b"[::1]", b"[::ffff:127.0.0.1]:80", b"[::1%25lo0]:80"]:
            self.assertEqual(status([(b"host", host), BEARER]), 200, host)

    def test_names_numeric_forms_and_wildcards_are_refused_on_a_loopback_bind(self):
        # A browser normalizes 127.1 and 2130706433 to 127.0.0.1 before it sends Host; what
        # arrives in these forms comes from elsewhere, and refusing them costs nothing.
        for host in [b"attacker.example", b"evil.localhost", b"127.1", b"2130706433", b"0177.0.0.1", b"0x7f.0.0.1"]:
            self.assertEqual(status([(b"host", host), BEARER]), 403, host)
        for host in [b"0.0.0.0", b"[::]", b"::1", b"[::1]x", b"127.0.0.1:80:80", b"127.0.0.1:+80", b"", b" "]:
            self.assertEqual(status([(b"host", host), BEARER]), 403, host)

    def test_no_host_is_refused_before_the_app_sees_anything(self):
        sent, app = call([BEARER])
        self.assertEqual(sent[0]["status"], 403)
        self.assertEqual(json.loads(sent[1]["body"])["error"]["code"], "host_not_allowed")
        self.assertEqual(app.scopes, [])

    def test_a_wildcard_bind_takes_ip_literals_never_names(self):
        for host in [b"192.0.2.10:8000", b"[2001:db8::1]:8000", b"127.0.0.1"]:
            self.assertEqual(status([(b"host", host), BEARER], bind="0.0.0.0"), 200, host)
        self.assertEqual(status([(b"host", b"mymac.example:8000"), BEARER], bind="0.0.0.0"), 403)


class OriginTests(unittest.TestCase):
    def test_foreign_and_null_origins_get_403_without_cors(self):
        for origin in [b"https://evil.example", b"null", b"APP://MSTY", b"app://msty app://msty"]:
            for method in ["GET", "OPTIONS"]:
                headers = [(b"host", b"127.0.0.1"), (b"origin", origin), (b"access-control-request-method", b"POST")]
                sent, app = call(headers, method=method)
                self.assertEqual(sent[0]["status"], 403, (origin, method))
                self.assertFalse([k for k, _ in response_headers(sent) if k.startswith(b"access-control-")])
                self.assertEqual(app.scopes, [])

    def test_an_allowed_preflight_is_answered_without_the_token(self):
        headers = [
            (b"host", b"127.0.0.1"),
            (b"origin", ALLOWED),
            (b"access-control-request-method", b"POST"),
            (b"access-control-request-headers", b"authorization, content-type"),
        ]
        sent, app = call(headers, method="OPTIONS")
        got = dict(response_headers(sent))
        self.assertEqual(sent[0]["status"], 204)
        self.assertEqual(got[b"access-control-allow-origin"], ALLOWED)
        self.assertEqual(got[b"access-control-allow-methods"], b"POST")
        self.assertEqual(got[b"access-control-allow-headers"], b"authorization, content-type")
        self.assertEqual(got[b"access-control-max-age"], b"600")
        self.assertNotIn(b"access-control-allow-credentials", got)
        self.assertNotIn(b"access-control-allow-private-network", got)
        self.assertEqual(app.scopes, [])
        # Private Network Access (Chromium): granted to the allowed origin when it asks.
        sent, _ = call([*headers, (b"access-control-request-private-network", b"true")], method="OPTIONS")
        self.assertEqual(dict(response_headers(sent))[b"access-control-allow-private-network"], b"true")

    def test_an_allowed_origin_gets_the_guards_cors_on_every_message_of_a_stream(self):
        sent, app = call([(b"host", b"127.0.0.1"), (b"origin", ALLOWED), BEARER], app=App(chunks=3))
        headers = response_headers(sent)
        self.assertEqual([v for k, v in headers if k == b"access-control-allow-origin"], [ALLOWED])
        self.assertNotIn(b"access-control-allow-credentials", dict(headers))
        self.assertEqual(len([v for k, v in headers if k == b"vary" and b"origin" in v.lower()]), 1)
        self.assertEqual([m["type"] for m in sent[1:]], ["http.response.body"] * 3)

    def test_the_allowed_origin_can_read_its_401(self):
        sent, _ = call([(b"host", b"127.0.0.1"), (b"origin", ALLOWED)])
        got = dict(response_headers(sent))
        self.assertEqual(sent[0]["status"], 401)
        self.assertEqual(got[b"access-control-allow-origin"], ALLOWED)
        self.assertEqual(got[b"www-authenticate"], b"Bearer")


class TokenTests(unittest.TestCase):
    def test_missing_wrong_and_right_tokens(self):
        host = (b"host", b"127.0.0.1")
        wrong = [b"Bearer " + TOKEN[:-1], b"Bearer " + TOKEN + b"x", b"Bearer\t" + TOKEN]
        for auth in [None, b"Bearer", b"Bearer ", b"Basic " + TOKEN, *wrong]:
            headers = [host] + ([] if auth is None else [(b"authorization", auth)])
            self.assertEqual(status(headers), 401, auth)
        self.assertEqual(status([host, (b"authorization", b"bearer  " + TOKEN)]), 200)
        self.assertEqual(status([host], token=None), 200, "no token set")

    def test_the_token_is_compared_over_equal_lengths(self):
        # hmac.compare_digest answers at once when the lengths differ, which tells a caller the
        # token's length: every comparison must be of two values of one length.
        lengths = []
        real = hmac.compare_digest

        def recording(a, b):
            lengths.append((len(a), len(b)))
            return real(a, b)

        with mock.patch.object(guard_app.hmac, "compare_digest", recording):
            for candidate in [b"x", TOKEN[:-1], TOKEN + b"x", b"y" * 200, TOKEN]:
                status([(b"host", b"127.0.0.1"), (b"authorization", b"Bearer " + candidate)])
        self.assertEqual(len(lengths), 5)
        self.assertTrue(all(a == b for a, b in lengths), lengths)

    def test_duplicate_authorization_host_or_origin_is_400(self):
        for name, value in [(b"authorization", b"Bearer " + TOKEN), (b"host", b"127.0.0.1"), (b"origin", ALLOWED)]:
            headers = [(b"host", b"127.0.0.1"), BEARER, (name, value)]
            if name == b"origin":
                headers.append((name, value))
            self.assertEqual(status(headers), 400, name)

    def test_the_proof_is_the_tokens_hmac_of_the_challenge(self):
        challenge = b"A" * 16
        sent, _ = call([(b"host", b"127.0.0.1"), (b"x-msty-guard-challenge", challenge)])
        expected = hmac.new(TOKEN, b"msty-mlx-studio guard proof v1\n" + challenge, hashlib.sha256).hexdigest()
        self.assertEqual(dict(response_headers(sent))[b"x-msty-guard-proof"], expected.encode())
        for bad in [b"A" * 15, b"A" * 257, b"A" * 15 + b"=", b"A" * 15 + b"\xff"]:
            sent, _ = call([(b"host", b"127.0.0.1"), (b"x-msty-guard-challenge", bad)])
            self.assertNotIn(b"x-msty-guard-proof", dict(response_headers(sent)), bad)
        sent, _ = call([(b"host", b"127.0.0.1"), (b"x-msty-guard-challenge", challenge)], token=None)
        self.assertNotIn(b"x-msty-guard-proof", dict(response_headers(sent)))


class ScopeTests(unittest.TestCase):
    def test_a_denied_websocket_is_closed_before_it_is_accepted(self):
        sent, app = call([(b"host", b"attacker.example")], kind="websocket")
        self.assertEqual(sent, [{"type": "websocket.close", "code": 1008}])
        self.assertEqual(app.scopes, [])
        sent, app = call([(b"host", b"127.0.0.1")], kind="websocket")
        self.assertEqual(sent, [{"type": "websocket.close", "code": 1008}], "no token")
        sent, app = call([(b"host", b"127.0.0.1"), BEARER], kind="websocket")
        self.assertEqual((sent, len(app.scopes)), ([], 1))

    def test_lifespan_reaches_the_app(self):
        sent, app = call([], kind="lifespan")
        self.assertEqual((sent, [s["type"] for s in app.scopes]), ([], ["lifespan"]))


if __name__ == "__main__":
    unittest.main(verbosity=1)
