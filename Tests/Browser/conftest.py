"""A real gateway (SQLite, its own configuration), a real agency receiver over HTTP, and real
Chromium driven by Playwright: the console as the people who use it see it."""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", ROOT / ".build" / "test-output" / "console"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary():
    path = os.environ.get("SWITCHBOARD_BINARY")
    if path:
        return path
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True)
    return str(Path(out.stdout.strip()) / "switchboard")


# The council takes every substance-misuse referral too, so when the closed service's delivery is
# dead-lettered no one is left to re-route it to: it stays a dead letter for a person to retry.
RULES = """\
rules:
  - id: falls
    when:
      needs: falls-prevention
    route_to: falls-service
  - id: befriending
    when:
      needs: befriending
    route_to: befriending-charity
    alternatives: [council]
  - id: substance-misuse
    when:
      needs: substance-misuse
    route_to: [closed-service, council]
fallback: council
"""

AGENCIES = """\
agencies:
  - id: council
    name: Example Council Adult Social Care
    adapter: json-webhook
    endpoint: http://127.0.0.1:{council}/referrals
  - id: falls-service
    name: Example Falls Prevention Service
    adapter: json-webhook
    endpoint: http://127.0.0.1:{falls}/referrals
  - id: befriending-charity
    name: Example Befriending Charity
    adapter: portal
    receives: contact-only
  - id: closed-service
    name: Example Service That Refuses Everything
    adapter: json-webhook
    endpoint: http://127.0.0.1:{closed}/referrals
"""

SETTINGS = """\
server:
  host: 127.0.0.1
  port: {port}
storage:
  url: sqlite:data/switchboard.sqlite
agencies: agencies.yaml
rules: {{ file: rules.yaml, approval: required }}
api_keys:
  - {{ id: admin-ada, owner: Ada Administrator, role: admin, key_env: KEY_ADMIN_ADA }}
  - {{ id: admin-ben, owner: Ben Administrator, role: admin, key_env: KEY_ADMIN_BEN }}
  - {{ id: charity-staff, owner: Cara at the befriending charity, role: agency, key_env: KEY_CHARITY, agency: befriending-charity }}
  - {{ id: council-staff, owner: Cy at the council, role: agency, key_env: KEY_COUNCIL, agency: council }}
  - {{ id: practice, owner: Dev at Example Practice, role: referrer, key_env: KEY_REFERRER }}
  - {{ id: ops-olu, owner: Olu in operations, role: operations, key_env: KEY_OPERATIONS }}
  - {{ id: ig-gita, owner: Gita in information governance, role: governance, key_env: KEY_GOVERNANCE }}
delivery:
  concurrency: 8
console:
  oidc:
    issuer: http://127.0.0.1:{provider}
    client_id: switchboard-console
    name: your Trust account
    roles: {{ Switchboard.IG: governance, Switchboard.Admin: admin }}
"""


class Gateway:
    def __init__(self, tmp):
        self.dir = Path(tmp)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.keys = {
            name: secrets.token_hex(24) for name in ["admin", "admin2", "charity", "council", "referrer", "operations", "governance"]
        }
        # The Trust's identity provider: whoever signs in there is in information governance.
        self.provider_port = free_port()
        council, falls, closed = free_port(), free_port(), free_port()
        self.receiver_ports = {"council": council, "falls": falls, "closed": closed}
        (self.dir / "data").mkdir()
        (self.dir / "rules.yaml").write_text(RULES)
        (self.dir / "agencies.yaml").write_text(AGENCIES.format(council=council, falls=falls, closed=closed))
        (self.dir / "switchboard.yaml").write_text(SETTINGS.format(port=self.port, provider=self.provider_port))
        env = dict(os.environ)
        env.update(
            KEY_ADMIN_ADA=self.keys["admin"], KEY_ADMIN_BEN=self.keys["admin2"], KEY_CHARITY=self.keys["charity"], KEY_COUNCIL=self.keys["council"],
            KEY_REFERRER=self.keys["referrer"], KEY_OPERATIONS=self.keys["operations"], KEY_GOVERNANCE=self.keys["governance"])
        self.binary = binary()
        self.logs = open(self.dir / "gateway.log", "w")
        self.receivers = [
            subprocess.Popen([self.binary, "receiver", "--port", str(p), "--json"] + extra, stdout=self.logs, stderr=subprocess.STDOUT)
            for p, extra in ((council, []), (falls, []), (closed, ["--status", "400"]))
        ]
        provider = Path(__file__).resolve().parent.parent / "Fixtures" / "oidc" / "provider.py"
        self.receivers.append(
            subprocess.Popen(
                [sys.executable, str(provider), str(self.provider_port), "switchboard-console", "-", "Staff.Everyone,Switchboard.IG"],
                stdout=self.logs, stderr=subprocess.STDOUT))
        self.process = subprocess.Popen(
            [self.binary, "serve", "--config", str(self.dir / "switchboard.yaml")], env=env, stdout=self.logs, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1)
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("the gateway exited: " + (self.dir / "gateway.log").read_text())
                time.sleep(0.2)
        raise RuntimeError("the gateway did not start")

    def api(self, method, path, key, body=None, headers=None):
        import json
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + self.keys[key])
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def stop(self):
        for process in [self.process] + self.receivers:
            process.terminate()
        for process in [self.process] + self.receivers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.logs.close()


@pytest.fixture(scope="session")
def gateway():
    tmp = tempfile.mkdtemp(prefix="switchboard-console-")
    gateway = Gateway(tmp)
    yield gateway
    gateway.stop()
    if not os.environ.get("KEEP_CONSOLE_GATEWAY"):
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        executable = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        yield browser
        browser.close()


@pytest.fixture
def person(browser, gateway):
    """Signs a person in, in a browser context of their own; closes it afterwards."""
    contexts = []

    def sign_in(role):
        context = browser.new_context(base_url=gateway.url)
        contexts.append(context)
        page = context.new_page()
        page.goto("/console/sign-in")
        page.get_by_label("Access key").fill(gateway.keys[role])
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_load_state()
        return page

    yield sign_in
    for context in contexts:
        context.close()


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def check_accessibility(page, name):
    """axe-core, run in the page: no violations of WCAG 2 A or AA."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
    violations = results.response["violations"]
    assert not violations, f"{name}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations)
