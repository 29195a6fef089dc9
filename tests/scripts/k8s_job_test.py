#!/usr/bin/env python3
"""The Kubernetes Indexed Job of docs/scale-out.md, taken from the document as written and run
without Kubernetes: the manifest must be valid YAML with the structure kubectl needs (an Indexed
Job whose completions match the command's shard count, every mount backed by a volume, the
config from the ConfigMap, the API key from the Secret); then each pod's command runs as the
kubelet would run it (/bin/sh -c, JOB_COMPLETION_INDEX set, the Secret's key in the environment,
the volumes as folders) against a local OpenAI-compatible stub that checks the key, and the
documented merge must hold every item of the dataset exactly once.

    k8s_job_test.py CLINBENCH_BINARY SOURCE_DIR"""
import http.server
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading

import yaml

KEY = "sk-k8s-test-91c2"


def block_after(doc, heading, fence):
    at = doc.index(heading)
    start = doc.index(f"```{fence}\n", at) + len(fence) + 4
    return doc[start:doc.index("```", start)]


class Stub(http.server.BaseHTTPRequestHandler):
    requests = 0
    bad_keys = 0

    def log_message(self, *args):
        pass

    def _json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "llama-3-8b"}]})
        else:
            self._json(404, {"error": {"message": "no such path"}})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/v1/chat/completions":
            return self._json(404, {"error": {"message": "no such path"}})
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            Stub.bad_keys += 1
            return self._json(401, {"error": {"message": "bad key"}})
        json.loads(body)
        Stub.requests += 1
        chunks = [{"choices": [{"index": 0, "delta": {"content": "Reasoning.\nAnswer: A"}}]},
                  {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                  {"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 4}}]
        data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        raw = data.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def main():
    binary, source = sys.argv[1], sys.argv[2]
    doc = open(os.path.join(source, "docs", "scale-out.md")).read()
    heading = "## Kubernetes: an Indexed Job"
    manifests = list(yaml.safe_load_all(block_after(doc, heading, "yaml")))
    kinds = {m["kind"]: m for m in manifests}
    assert set(kinds) == {"ConfigMap", "Job"}, kinds.keys()
    cm, job = kinds["ConfigMap"], kinds["Job"]
    assert job["apiVersion"] == "batch/v1" and cm["apiVersion"] == "v1"

    # The structure kubectl and the Job controller need.
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed", spec
    n = spec["completions"]
    assert spec["parallelism"] == n, spec
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] in ("OnFailure", "Never"), pod["restartPolicy"]
    (container,) = pod["containers"]
    assert container["command"] == ["/bin/sh", "-c"], container["command"]
    (script,) = container["args"]
    shard = re.search(r'--shard "\$\{JOB_COMPLETION_INDEX\}/(\d+)"', script)
    assert shard and int(shard.group(1)) == n, (script, n)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert set(mounts) <= set(volumes), (mounts, volumes)
    config_volume = [v for v in volumes.values() if "configMap" in v]
    assert config_volume and config_volume[0]["configMap"]["name"] == cm["metadata"]["name"]
    run_toml = cm["data"]["run.toml"]
    key_env = re.search(r'api_key_env = "([^"]+)"', run_toml).group(1)
    env = {e["name"]: e for e in container.get("env", [])}
    assert "secretKeyRef" in env[key_env]["valueFrom"], env

    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{stub.server_address[1]}/v1"
    dataset = os.path.join(source, "tests", "data", "datasets", "curebench_valset.jsonl")
    with tempfile.TemporaryDirectory() as root:
        # The volumes as folders; their mount paths in the manifest become these.
        folders = {path: os.path.join(root, name) for name, path in mounts.items()}
        for f in folders.values():
            os.makedirs(f)
        def local(text):
            for path, folder in sorted(folders.items(), key=lambda p: -len(p[0])):
                text = text.replace(path + "/", folder + "/").replace(f'"{path}"', f'"{folder}"')
            return text
        data_path = re.search(r'path = "([^"]+)"', run_toml).group(1)
        shutil.copy(dataset, local(data_path))
        config = re.sub(r'base_url = "[^"]+"', f'base_url = "{base_url}"', local(run_toml))
        open(os.path.join(folders[mounts[config_volume[0]["name"]]], "run.toml"), "w").write(config)
        path = os.path.dirname(binary) + os.pathsep + os.environ["PATH"]
        for i in range(n):
            pod_env = dict(os.environ, PATH=path, JOB_COMPLETION_INDEX=str(i), **{key_env: KEY})
            p = subprocess.run(["/bin/sh", "-c", local(script)], env=pod_env,
                               capture_output=True, text=True)
            assert p.returncode == 0, f"pod {i}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        merge = block_after(doc[doc.index(heading):], "merge from any pod", "sh").strip()
        p = subprocess.run(["/bin/sh", "-c", local(merge)], capture_output=True, text=True,
                           env=dict(os.environ, PATH=path))
        assert p.returncode == 0, f"merge: {p.stdout}\n{p.stderr}"
        merged = re.search(r"clinbench merge (\S+)", merge).group(1)
        db = sqlite3.connect(os.path.join(local(merged + "/"), "run.db"))
        ids = [r[0] for r in db.execute("SELECT item_id FROM items")]
        want = [json.loads(line)["id"] for line in open(dataset) if line.strip()]
        assert sorted(ids) == sorted(want), (ids, want)
    stub.shutdown()
    assert Stub.bad_keys == 0 and Stub.requests >= len(want), (Stub.bad_keys, Stub.requests)
    print(f"k8s job: {n} pods, {len(ids)} items merged once each, {Stub.requests} requests")


if __name__ == "__main__":
    main()
