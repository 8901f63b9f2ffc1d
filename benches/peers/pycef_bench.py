"""pycef (https://pypi.org/project/pycef/) on the CEF bench's 1,000 lines, for the record.

The lines are the ones `benches/benches/cef.rs` builds (`cef_lines`); pass a file to time
other lines instead. Prints the median and the fastest of 31 rounds, in MB/s of input, for
`pycef.parse` alone and for `pycef.parse` then `json.dumps` (a JSON document per line, the
closest to what the inbox writes).

    python3 -m venv /tmp/pycef-venv && /tmp/pycef-venv/bin/pip install pycef
    /tmp/pycef-venv/bin/python benches/peers/pycef_bench.py [lines.txt]
"""

import json
import statistics
from importlib.metadata import version
import sys
import time

import pycef

ROUNDS = 31


def cef_lines(lines):
    """The body of `cef_lines` in benches/benches/cef.rs, byte for byte."""
    return "".join(
        "Sep 29 08:26:10 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1|threat|Spyware Detected|8|"
        f"src=10.0.0.{i % 250} dst=198.51.100.7 spt=51514 dpt=443 act=reset-both cs1=corp "
        "cs1Label=zone msg=C2 beacon to known bad domain \\= escaped rt=1715158800000\n"
        for i in range(lines)
    )


def timed(body_lines, work):
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for line in body_lines:
            work(line)
        rounds.append(time.perf_counter() - start)
    return statistics.median(rounds), min(rounds)


def main():
    if len(sys.argv) > 1:
        with open(sys.argv[1], encoding="utf-8") as file:
            body = file.read()
    else:
        body = cef_lines(1000)
    size = len(body.encode("utf-8"))
    body_lines = body.splitlines()
    assert all(pycef.parse(line) for line in body_lines), "every line parses"
    print(f"pycef {version('pycef')} on {len(body_lines)} lines, {size} bytes")
    for name, work in [
        ("pycef.parse", pycef.parse),
        ("pycef.parse + json.dumps", lambda line: json.dumps(pycef.parse(line))),
    ]:
        median, best = timed(body_lines, work)
        print(
            f"{name}: median {median * 1e3:.2f} ms ({size / median / 1e6:.1f} MB/s), "
            f"fastest {best * 1e3:.2f} ms ({size / best / 1e6:.1f} MB/s)"
        )


if __name__ == "__main__":
    main()
