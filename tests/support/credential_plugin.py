"""A client-go credential plugin for tests, run as a real program by the agent and kubectl.

``python credential_plugin.py STATE_DIR MODE``. Every run appends what it was given
(``KUBERNETES_EXEC_INFO``, the ``PLUGIN_*`` variables, whether stdin is a terminal, its
PID) as one JSON line to ``STATE_DIR/runs.jsonl``. Then, by ``MODE``:

* ``serve``: print an ExecCredential (of the apiVersion KUBERNETES_EXEC_INFO names) whose
  ``status`` is line N of ``STATE_DIR/credentials.jsonl`` for the Nth run (the last line
  once they run out);
* ``prompt``: ask for a password on stderr, read a line from stdin, and ``serve`` if it
  is ``STATE_DIR/password``'s content, else fail;
* ``hang``: never answer; ``fail``: say why on stderr and exit 1; ``garbage``: print
  something that is not an ExecCredential (and holds a would-be secret).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    state, mode = Path(sys.argv[1]), sys.argv[2]
    info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "{}")
    record = {
        "pid": os.getpid(),
        "info": info,
        "env": {k: v for k, v in os.environ.items() if k.startswith("PLUGIN_")},
        "stdin_tty": os.isatty(0),
    }
    with open(state / "runs.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
    if mode == "hang":
        while True:
            time.sleep(60)
    if mode == "fail":
        sys.stderr.write("error: the refresh token has expired\nrun oc login again\n")
        return 1
    if mode == "garbage":
        print("token=sekrit-garbage-token")
        return 0
    if mode == "prompt":
        sys.stderr.write("Password: ")
        sys.stderr.flush()
        answer = sys.stdin.readline().strip()
        if answer != (state / "password").read_text().strip():
            sys.stderr.write("wrong password\n")
            return 1
    runs = len((state / "runs.jsonl").read_text(encoding="utf-8").splitlines())
    statuses = (state / "credentials.jsonl").read_text().splitlines()
    status = json.loads(statuses[min(runs, len(statuses)) - 1])
    api_version = info.get("apiVersion", "client.authentication.k8s.io/v1")
    print(json.dumps({"kind": "ExecCredential", "apiVersion": api_version, "status": status}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
