#!/usr/bin/python3
"""`stipple serve` against independent parsers: /metrics through prometheus_client's text parser,
/openapi.json through an OpenAPI 3 validator (@apidevtools/swagger-parser under node), and every
route of the document answered by the real server (neither an unknown route nor 405).

Usage: gateway_contract_test.py --stipple BIN --model-dir DIR --node-modules DIR
Exit 0 when every check passes; prints "N passed, N failed".
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

HERE = os.path.dirname(os.path.abspath(__file__))

# API.md's /metrics row, as series families: (name, type). Histograms are named without suffix.
REQUIRED_FAMILIES = {
    "stipple_queue_depth": "gauge",
    "stipple_queue_oldest_age_seconds": "gauge",
    "stipple_tasks_ended": "counter",
    "stipple_task_queue_wait_seconds": "histogram",
    "stipple_task_run_seconds": "histogram",
    "stipple_task_end_to_end_seconds": "histogram",
    "stipple_workers": "gauge",
    "stipple_http_sync_waiters": "gauge",
    "stipple_http_sse_subscribers": "gauge",
    "stipple_http_ws_subscribers": "gauge",
    "stipple_webhook_deliveries": "counter",
    "stipple_http_requests": "counter",
    "stipple_desired_workers": "gauge",
}


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL:", what, flush=True)


def request(port, method, path, body=None, headers=None, timeout=120):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def start_serve(args, data_dir):
    proc = subprocess.Popen(
        [args.stipple, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir,
         "--model-dir", args.model_dir, "--threads", "1", "--log-level", "warn"],
        stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # "stipple serving http://127.0.0.1:PORT  (...)"
    at = line.find("http://127.0.0.1:")
    if at < 0:
        proc.kill()
        raise SystemExit("stipple serve did not start: " + line)
    port = int(line[at + len("http://127.0.0.1:"):].split()[0].rstrip("/"))
    return proc, port


def check_metrics(c, port):
    status, headers, body = request(port, "GET", "/metrics")
    c.check(status == 200, "/metrics answers 200")
    c.check(headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
            "/metrics content type")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    for name, kind in REQUIRED_FAMILIES.items():
        c.check(name in families, f"/metrics has {name}")
        if name in families:
            c.check(families[name].type == kind, f"{name} is a {kind}, not {families[name].type}")
    for name in families:
        c.check(name.startswith("stipple_"), f"{name} starts with stipple_")

    def value(family, suffix="", **labels):
        for s in families[family].samples:
            if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        return None

    c.check(value("stipple_tasks_ended", "_total", status="succeeded") >= 1,
            "a succeeded task is counted")
    c.check(value("stipple_task_end_to_end_seconds", "_count") >= 1,
            "the end-to-end histogram has the task")
    c.check(value("stipple_task_run_seconds", "_bucket", le="+Inf") ==
            value("stipple_task_run_seconds", "_count"), "+Inf bucket equals the count")
    c.check(value("stipple_http_requests", "_total", route="/v1/tasks", method="POST",
                  code="200") >= 1, "the sync create is counted by route and code")
    c.check(value("stipple_workers", state="idle") is not None, "workers by state")
    c.check(value("stipple_queue_depth", model="shapes-32", priority="normal") is not None,
            "queue depth per model and priority")


def check_openapi(c, port, node_modules, work):
    status, _, body = request(port, "GET", "/openapi.json")
    c.check(status == 200, "/openapi.json answers 200")
    path = os.path.join(work, "openapi.json")
    with open(path, "wb") as f:
        f.write(body)
    env = dict(os.environ, NODE_PATH=node_modules)
    r = subprocess.run(["node", os.path.join(HERE, "validate_openapi.js"), path], env=env,
                       capture_output=True, text=True, timeout=120)
    print(r.stdout.strip(), r.stderr.strip(), flush=True)
    c.check(r.returncode == 0, "the OpenAPI validator accepts /openapi.json")
    return json.loads(body)


def check_routes(c, port, doc, task_id):
    for pattern, operations in doc["paths"].items():
        path = pattern.replace("{id}", task_id).replace("{index}", "0")
        for method in operations:
            body, headers = None, {}
            if method == "post" and pattern == "/v1/tasks":
                body = json.dumps({"prompt": "a blue square", "steps": 2}).encode()
                headers["Content-Type"] = "application/json"
            elif method in ("post", "put", "patch"):
                body = b"{}"
                headers["Content-Type"] = "application/json"
            status, _, answer = request(port, method.upper(), path, body, headers, timeout=30)
            no_route = False
            if status == 404:
                try:
                    no_route = json.loads(answer).get("detail", "").startswith("no route")
                except ValueError:
                    pass
            c.check(status != 405 and not no_route and status < 500,
                    f"{method.upper()} {pattern} answers ({status})")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stipple", required=True)
    p.add_argument("--model-dir", required=True)
    p.add_argument("--node-modules", required=True)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="stipple-gateway-e2e-")
    proc, port = start_serve(args, os.path.join(work, "data"))
    c = Checks()
    try:
        # One task that ends (sync), so the counters and histograms have something in them.
        status, _, body = request(port, "POST", "/v1/tasks",
                                  json.dumps({"prompt": "a red circle", "steps": 2}).encode(),
                                  {"Content-Type": "application/json", "Prefer": "wait=120"},
                                  timeout=180)
        c.check(status == 200, f"sync create answers 200 ({status})")
        task = json.loads(body)
        c.check(task.get("status") == "succeeded", "the task succeeded")
        check_metrics(c, port)
        doc = check_openapi(c, port, args.node_modules, work)
        check_routes(c, port, doc, task["id"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{c.passed} passed, {c.failed} failed", flush=True)
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
