"""``python -m tests.support.fake_apiserver``: serve until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Optional

from tests.support.fake_apiserver.server import FakeApiServer


def main(argv: Optional[list[str]] = None) -> int:
    """Parse the options, seed the server, print how to reach it and serve."""
    # Ctrl-C must stop it even when started from a shell that ignores SIGINT (a background
    # job, nohup): Python keeps an inherited "ignore".
    signal.signal(signal.SIGINT, signal.default_int_handler)

    parser = argparse.ArgumentParser(
        prog="python -m tests.support.fake_apiserver",
        description="A fake Kubernetes API server (HTTPS, bearer token) for manual tests.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    parser.add_argument("--token", default="test-token", help="the accepted bearer token")
    parser.add_argument("--nodes", type=int, default=0, help="seed Nodes node-0 ... node-N-1")
    parser.add_argument(
        "--namespace", action="append", default=[], help="create this Namespace (repeatable)"
    )
    parser.add_argument("--kubeconfig", type=Path, help="also write a kubeconfig here")
    args = parser.parse_args(argv)

    server = FakeApiServer(args.token, host=args.host, port=args.port)
    for namespace in args.namespace:
        server.add_namespace(namespace)
    for index in range(args.nodes):
        server.add_node(f"node-{index}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(f"URL:   {server.url}", flush=True)
        print(f"CA:    {server.ca_file}", flush=True)
        print(f"Token: {server.token}", flush=True)
        if args.kubeconfig:
            print(f"Kubeconfig: {server.write_kubeconfig(args.kubeconfig)}", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
