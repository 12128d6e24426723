#!/usr/bin/env python3
"""An agency's system at its worst, for the personal-data test: every delivery is refused, and
the refusal quotes what it was sent (as real systems' error pages and FHIR OperationOutcomes do).

    echoing-agency.py PORT MODE

MODE is one of:
  fhir-500       500 with a FHIR OperationOutcome whose diagnostics quote the body
  html-422       422 with an HTML error page quoting the body
  json-400       400 with {"error": ..., "received": <the body>}
  redirect-302   302 to a Location naming the person, with the body in the reply
  text-503       503 text/plain quoting the body, with Retry-After: 1
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, MODE = int(sys.argv[1]), sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("utf-8", "replace")
        try:
            referral = json.loads(body).get("data", {}).get("referral", {})
        except Exception:
            referral = {}
        subject = referral.get("subject", {})
        who = f"{subject.get('givenName', '')} {subject.get('familyName', '')} NHS {subject.get('nhsNumber', '')}"
        headers = {}
        if MODE == "fhir-500":
            status, kind = 500, "application/fhir+json"
            reply = json.dumps({"resourceType": "OperationOutcome", "issue": [{
                "severity": "error", "code": "processing", "diagnostics": f"Could not file {who}: {body}",
                "details": {"text": who, "coding": [{"code": who, "display": who}]}}]})
        elif MODE == "html-422":
            status, kind = 422, "text/html"
            reply = f"<html><body><h1>Rejected</h1><p>{who}</p><pre>{body}</pre></body></html>"
        elif MODE == "json-400":
            status, kind = 400, "application/json"
            reply = json.dumps({"error": f"bad referral for {who}", "received": body})
        elif MODE == "redirect-302":
            status, kind = 302, "text/plain"
            headers["Location"] = f"https://records.example/patients/{subject.get('familyName', '')}?nhs={subject.get('nhsNumber', '')}"
            reply = f"Moved: {who}"
        else:
            status, kind = 503, "text/plain"
            headers["Retry-After"] = "1"
            reply = f"Busy filing {who}; received {body}"
        data = reply.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        print(json.dumps({"status": status}), flush=True)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(f"listening on {PORT}", file=sys.stderr, flush=True)
server.serve_forever()
