#!/usr/bin/env python3
"""A small OpenID Connect provider on loopback, for the console's staff sign-in tests.

    provider.py PORT CLIENT_ID [CLIENT_SECRET|-] [DEFAULT_ROLES]

It publishes its discovery document and keys, signs in whoever the browser names at /authorize
(`sub`, `name`, `roles` as a comma-separated list), and misbehaves on request (`mode`):
bad-signature, alg-none, wrong-nonce, wrong-issuer, wrong-audience, expired. It checks what a real
provider checks: the client, the redirect URI, the PKCE verifier (S256), one use of each code.
"""
import base64, hashlib, json, secrets, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

port, client_id = int(sys.argv[1]), sys.argv[2]
client_secret = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
# The roles of whoever signs in without naming any (a real browser, which follows the redirect as it is).
default_roles = sys.argv[4] if len(sys.argv) > 4 else ""
issuer = f"http://127.0.0.1:{port}"
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
codes = {}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def number(value):
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def token(claims, mode):
    header = {"alg": "none" if mode == "alg-none" else "RS256", "kid": "k1", "typ": "JWT"}
    signing_input = (b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())).encode()
    if mode == "alg-none":
        return signing_input.decode() + "."
    signer = rogue if mode == "bad-signature" else key
    return signing_input.decode() + "." + b64(signer.sign(signing_input, padding.PKCS1v15(), hashes.SHA256()))


class Provider(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/.well-known/openid-configuration":
            return self.send_json(200, {
                "issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token",
                "jwks_uri": issuer + "/jwks", "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"], "subject_types_supported": ["public"],
            })
        if url.path == "/jwks":
            public = key.public_key().public_numbers()
            return self.send_json(200, {"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": number(public.n), "e": number(public.e)}]})
        if url.path == "/authorize":
            if query.get("client_id") != client_id or query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
                return self.send_json(400, {"error": "invalid_request"})
            code = secrets.token_urlsafe(24)
            codes[code] = dict(query)
            location = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query.get("state", "")})
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_json(404, {"error": "not_found"})

    def do_POST(self):
        if self.path != "/token":
            return self.send_json(404, {"error": "not_found"})
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()))
        if client_secret is not None:
            expected = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                return self.send_json(401, {"error": "invalid_client"})
        asked = codes.pop(form.get("code", ""), None)
        if asked is None or form.get("grant_type") != "authorization_code" or form.get("redirect_uri") != asked["redirect_uri"]:
            return self.send_json(400, {"error": "invalid_grant"})
        challenge = b64(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if challenge != asked["code_challenge"]:
            return self.send_json(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
        mode = asked.get("mode", "")
        now = int(time.time())
        claims = {
            "iss": "https://evil.example" if mode == "wrong-issuer" else issuer,
            "aud": "someone-else" if mode == "wrong-audience" else client_id,
            "sub": asked.get("sub", "u-1"), "name": asked.get("name", "Test Person"),
            "iat": now, "exp": now - 600 if mode == "expired" else now + 300,
            "nonce": "not-the-nonce" if mode == "wrong-nonce" else asked.get("nonce", ""),
            "roles": [role for role in asked.get("roles", default_roles).split(",") if role],
        }
        self.send_json(200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "id_token": token(claims, mode), "expires_in": 300})


server = ThreadingHTTPServer(("127.0.0.1", port), Provider)
print("listening", file=sys.stderr, flush=True)
server.serve_forever()
