"""The served port's guard as an ASGI app around mlx-knife's (docs/security.md, "The served port").

Every HTTP request and WebSocket passes, in this order:

1. Host: a loopback name or address (`localhost`, 127.0.0.0/8, `[::1]`) or the host serve was
   told to bind, on any port; for a wildcard bind (`0.0.0.0`, `::`) also any IP literal, which
   no DNS rebinding can produce. Else 403 (DNS rebinding sends the attacker's name).
2. Origin: none passes (SDKs, curl); one the app allowed passes; any other, `null` included,
   is 403, on the preflight and on the request, with no CORS header.
3. A CORS preflight from an allowed origin is answered here (browsers send it without
   credentials), so the app's token never has to be in it.
4. Token, when one is set: `Authorization: Bearer <token>`, compared in constant time (SHA-256
   digests, so a wrong length takes as long as a wrong byte); else 401.

Then the request reaches mlx-knife; for an allowed origin the guard's own CORS headers replace
whatever mlx-knife's CORSMiddleware adds (it echoes every origin, with credentials).
"""

import hashlib
import hmac
import ipaddress
import json

from msty_mlx_guard import CHALLENGE_HEADER, PROOF_CONTEXT, PROOF_HEADER

_CACHE_LIMIT = 256


def _body(status, code, message):
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return status, json.dumps({"error": error}).encode()


_DENIED_HOST = _body(
    403,
    "host_not_allowed",
    "This server answers only requests addressed to loopback (localhost, 127.0.0.1, [::1]) or to the "
    "address it was started on (DNS rebinding protection).",
)
_DENIED_ORIGIN = _body(
    403,
    "origin_not_allowed",
    "Requests from this web origin are not allowed; the app lists the origins that may call this "
    "server (allowedOrigins, MLXK2_ALLOWED_ORIGINS).",
)
_DENIED_DUPLICATE = _body(400, "duplicate_header", "A Host, Origin or Authorization header appears twice.")
_DENIED_TOKEN = _body(
    401,
    "invalid_api_key",
    "Missing or wrong API key: send Authorization: Bearer <token>, the token the app started this server "
    "with (the OpenAI SDKs' apiKey).",
)
_VARY_ORIGIN = ((b"vary", b"Origin"),)
_WATCHED = {b"host": 0, b"origin": 1, b"authorization": 2, CHALLENGE_HEADER: 3}
_CHALLENGE_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class Guard:
    __slots__ = ("app", "_token", "_token_digest", "_origins", "_bind", "_bind_ip", "_any_ip", "_hosts")

    def __init__(self, app, bind_host, token, origins):
        self.app = app
        self._token = token
        self._token_digest = None if token is None else hashlib.sha256(token).digest()
        self._origins = origins
        bind = (bind_host or "").strip("[]").lower()
        self._bind = bind
        try:
            self._bind_ip = ipaddress.ip_address(bind)
        except ValueError:
            self._bind_ip = None  # a name (or nothing): only equal names match it
        self._any_ip = bind in ("0.0.0.0", "::", "")
        self._hosts = {}  # Host header value -> allowed (a small cache: parsing costs microseconds)

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind != "http" and kind != "websocket":  # lifespan
            return await self.app(scope, receive, send)
        found = [None, None, None, None]
        for name, value in scope["headers"]:
            slot = _WATCHED.get(name)
            if slot is not None:
                if found[slot] is not None and slot < 3:
                    return await _deny(send, kind, _DENIED_DUPLICATE, ())
                found[slot] = value
        host, origin, authorization, challenge = found
        extra = self._proof(challenge)
        if not self._host_allowed(host):
            return await _deny(send, kind, _DENIED_HOST, extra)
        cors = ()
        if origin is not None:
            if origin not in self._origins:
                return await _deny(send, kind, _DENIED_ORIGIN, extra)
            cors = ((b"access-control-allow-origin", origin),)
            if kind == "http" and scope["method"] == "OPTIONS":
                preflight = _preflight(scope["headers"])
                if preflight is not None:
                    return await _respond(send, 204, b"", extra + cors + _VARY_ORIGIN + preflight)
        if self._token is not None and not self._bearer_ok(authorization):
            auth = ((b"www-authenticate", b"Bearer"),)
            return await _deny(send, kind, _DENIED_TOKEN, extra + cors + (_VARY_ORIGIN if cors else ()) + auth)
        if extra or cors:
            send = _with_headers(send, extra, cors)
        return await self.app(scope, receive, send)

    def _bearer_ok(self, value):
        if value is None:
            return False
        scheme, _, credentials = value.partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        # compare_digest returns at once when the lengths differ: compare fixed-length digests.
        return hmac.compare_digest(hashlib.sha256(credentials.strip()).digest(), self._token_digest)

    def _proof(self, challenge):
        if self._token is None or challenge is None or not 16 <= len(challenge) <= 256:
            return ()
        if not _CHALLENGE_CHARS.issuperset(challenge):
            return ()
        proof = hmac.new(self._token, PROOF_CONTEXT + challenge, hashlib.sha256).hexdigest()
        return ((PROOF_HEADER, proof.encode()),)

    def _host_allowed(self, value):
        if value is None:
            return False
        allowed = self._hosts.get(value)
        if allowed is None:
            allowed = self._judge_host(value)
            if len(self._hosts) < _CACHE_LIMIT:
                self._hosts[value] = allowed
        return allowed

    def _judge_host(self, value):
        text = value.decode("latin-1").strip().lower()
        if text.startswith("["):
            end = text.find("]")
            name, port = (text[1:end], text[end + 1 :]) if end > 0 else ("", "!")
            if port and not port.startswith(":"):
                return False
            port = port[1:]
        else:
            name, _, port = text.partition(":")
        if port and not port.isdigit():
            return False
        if name.rstrip(".") == "localhost" or (self._bind and name == self._bind):
            return True
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return False  # a name: what DNS rebinding sends
        mapped = getattr(ip, "ipv4_mapped", None)
        if ip.is_loopback or (mapped is not None and mapped.is_loopback) or self._any_ip:
            return True
        return ip == self._bind_ip


def _preflight(headers):
    """The CORS answer for a preflight (`Access-Control-Request-Method` present), else None."""
    method = asked = private = None
    for name, value in headers:
        if name == b"access-control-request-method":
            method = value
        elif name == b"access-control-request-headers":
            asked = value
        elif name == b"access-control-request-private-network":
            private = value
    if method is None:
        return None
    answer = [
        (b"access-control-allow-methods", method),
        (b"access-control-max-age", b"600"),
        (b"vary", b"Access-Control-Request-Method, Access-Control-Request-Headers"),
    ]
    if asked:
        answer.append((b"access-control-allow-headers", asked))
    if private == b"true":
        answer.append((b"access-control-allow-private-network", b"true"))
    return tuple(answer)


def _with_headers(send, extra, cors):
    """`send`, adding `extra` to the response; for a cross-origin request the app's own CORS
    headers (mlx-knife echoes any origin, with credentials) are replaced by `cors`, and the
    response varies by Origin."""

    async def send_with_headers(message):
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if cors:
                headers = [(k, v) for k, v in headers if not k.lower().startswith(b"access-control-")]
                headers += cors
                if not any(k.lower() == b"vary" and b"origin" in v.lower() for k, v in headers):
                    headers += _VARY_ORIGIN
            message = dict(message, headers=[*headers, *extra])
        await send(message)

    return send_with_headers


async def _deny(send, kind, denial, extra):
    if kind == "websocket":  # closing before accepting is an HTTP 403 to the client
        return await send({"type": "websocket.close", "code": 1008})
    status, body = denial
    return await _respond(send, status, body, extra + ((b"content-type", b"application/json"),))


async def _respond(send, status, body, headers):
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
