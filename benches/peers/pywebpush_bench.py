"""pywebpush (https://pypi.org/project/pywebpush/) fanning one notification out in a loop.

Run by `benches/benches/fanout/` in alternating rounds with ours, against the same mock push
service (TLS, a CA made at start): the bench writes the subscriptions (the browser's
`PushSubscription` JSON, the same endpoints and keys as ours), the payload and the VAPID private
key to files and passes them here. This calls `pywebpush.webpush` once per subscription, as a
Python sender does, with the VAPID key parsed once and one `requests.Session` (HTTP/1.1
keep-alive over TLS; `requests` has no HTTP/2), and prints one JSON line: the seconds the loop
took (interpreter start-up and imports not counted) and how many were sent.

    python3 -m venv /tmp/pywebpush-venv && /tmp/pywebpush-venv/bin/pip install pywebpush
    AISOC_BENCH_PYWEBPUSH=/tmp/pywebpush-venv/bin/python \\
        cargo bench -p aisoc-notify-benches --bench fanout
"""

import argparse
import json
import os
import time

import requests
from py_vapid import Vapid
from pywebpush import webpush


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", required=True, help="JSON list of PushSubscriptions")
    parser.add_argument("--payload", required=True, help="the plaintext to push")
    parser.add_argument("--vapid-key-file", required=True, help="raw URL-safe base64 private key")
    parser.add_argument("--ca", required=True, help="PEM CA the mock push service's cert is from")
    parser.add_argument("--n", type=int, default=None, help="push to the first N subscriptions")
    args = parser.parse_args()

    with open(args.subscriptions, encoding="utf-8") as file:
        subscriptions = json.load(file)[: args.n]
    with open(args.payload, encoding="utf-8") as file:
        data = file.read()
    with open(args.vapid_key_file, encoding="utf-8") as file:
        vapid = Vapid.from_string(file.read().strip())
    # requests 2.34 does not apply a Session's `verify` to a request that names none (as
    # pywebpush's do); it does read the CA bundle from the environment.
    os.environ["REQUESTS_CA_BUNDLE"] = os.path.abspath(args.ca)
    session = requests.Session()
    claims = {"sub": "mailto:soc@example.com"}

    sent = 0
    start = time.perf_counter()
    for subscription in subscriptions:
        webpush(
            subscription,
            data,
            vapid_private_key=vapid,
            vapid_claims=claims,
            content_encoding="aes128gcm",
            ttl=86400,
            headers={"Urgency": "high"},
            requests_session=session,
        )
        sent += 1
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "sent": sent}))


if __name__ == "__main__":
    main()
