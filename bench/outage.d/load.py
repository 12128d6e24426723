"""Load and probes for bench/outage: referrals posted to every gateway at a steady rate, and
/readyz asked of each every quarter second, each with its status and how long it took. Writes one
JSON line per request to stdout. Python's standard library only.

  load.py SECONDS RATE BODY_FILE KEY URL [URL ...]
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

seconds, rate, body_file, key, urls = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
body = open(body_file, "rb").read()
start = time.monotonic()
lock = threading.Lock()
out = []


def send(url, method, path, payload, headers):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    sent = time.monotonic()
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        text = response.read()
        status = response.status
    except Exception:
        status, text = 0, b""
    finally:
        connection.close()
    return sent, time.monotonic() - sent, status, text


def poster(index, count):
    # Each poster sends every count-th referral of the timetable, to the gateways in turn.
    n = index
    while True:
        due = start + n / rate
        if due - start > seconds:
            return
        time.sleep(max(0.0, due - time.monotonic()))
        url = urls[n % len(urls)]
        sent, took, status, text = send(url, "POST", "/v1/referrals", body,
                                        {"Content-Type": "application/json", "Authorization": "Bearer " + key})
        referral = None
        if status == 202:
            referral = json.loads(text).get("id")
        with lock:
            out.append({"kind": "post", "gateway": n % len(urls), "at": sent - start, "took": took, "status": status, "id": referral})
        n += count


def prober(gateway):
    while time.monotonic() - start < seconds:
        sent, took, status, _ = send(urls[gateway], "GET", "/readyz", None, {})
        with lock:
            out.append({"kind": "readyz", "gateway": gateway, "at": sent - start, "took": took, "status": status})
        time.sleep(max(0.0, 0.25 - took))


threads = [threading.Thread(target=poster, args=(i, 16)) for i in range(16)]
threads += [threading.Thread(target=prober, args=(g,)) for g in range(len(urls))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
for line in out:
    print(json.dumps(line))
