#!/usr/bin/env python3
"""Where a run's CPU goes, by who asked for it: awa's processes (the probes, awa's commands and
the PostgreSQL backends they opened) or awacompat's own work (its process, the oracle's
connections, the copies and removals of the cells' databases, the templates).

A diagnostic for docs/performance.md, not part of a run. It needs a run against a server of
your own (--pg-url) that logs connections with their pid, under process accounting:

    ALTER SYSTEM SET log_connections = on;
    ALTER SYSTEM SET log_line_prefix = '%m [%p] %d %a ';   -- then reload
    accton /tmp/run.acct; awacompat run matrix.yaml --pg-url URL --out OUT; accton off

    scripts/cpu-by-role.py /tmp/run.acct SERVER_LOG OUT

Process accounting (the acct package: accton, dump-acct) records every process that exited
with its CPU; the server log names each backend's database and application_name (awacompat
names every connection "awacompat ROLE"); the cells' spec files name each cell's database.
"""
import collections
import glob
import json
import os
import re
import subprocess
import sys

# Client processes that run awa's code: the probes (Python, forked or not; Rust) and awa's CLI.
AWA_CLIENTS = re.compile(r"^(python3?|tokio-rt-worker|awa|awa-probe-.*)$")
# Connections that are awacompat's own reading and bookkeeping, by application_name.
OWN_ROLES = {"oracle", "oracle pin"}


def main(acct, server_log, out):
    cell_of_db = {}
    for spec in glob.glob(os.path.join(out, "cells", "*", "*.spec.json")):
        m = re.search(r"awacompat_[0-9a-f]+_c\d+_\d+", open(spec).read())
        if m:
            cell_of_db[m.group(0)] = os.path.basename(os.path.dirname(spec))
    cells = {c["id"]: c for c in json.load(open(os.path.join(out, "results.json")))["cells"]}

    backend = {}  # pid -> (database, role)
    for line in open(server_log, errors="replace"):
        m = re.search(r"\[(\d+)\] .*connection authorized: user=\S+ database=(\S+)(?: application_name=(.*))?", line)
        if m:
            backend[m.group(1)] = (m.group(2), (m.group(3) or "").strip().removeprefix("awacompat "))

    total = collections.Counter()
    by_scenario = collections.defaultdict(collections.Counter)
    acct_lines = subprocess.run(["dump-acct", acct], capture_output=True, text=True, check=True).stdout
    for line in acct_lines.splitlines():
        f = [x.strip() for x in line.split("|")]
        comm, cpu, pid = f[0], (float(f[2]) + float(f[3])) / 100, f[9]
        if pid in backend:
            db, role = backend[pid]
            cell = cells.get(cell_of_db.get(db, ""))
            if cell is None:
                key = "own: cells' database copies and removals" if db == "postgres" else "own: templates"
            else:
                side = "own" if role in OWN_ROLES else "awa"
                key = "own: oracle backends" if side == "own" else "awa: backends of awa's processes"
                by_scenario[cell["engine"] + "." + cell["scenario"]][side] += cpu
        elif AWA_CLIENTS.match(comm):
            key = "awa: probe and CLI processes"
        elif comm == "awacompat":
            key = "own: awacompat"
        elif comm.startswith("pg_") or comm == "postgres":
            key = "own: templates and server upkeep"
        else:
            key = "other processes"
        total[key] += cpu

    n = len(cells)
    print(f"{n} cells, {sum(total.values()):.1f} CPU-s accounted")
    for key, cpu in sorted(total.items(), key=lambda kv: -kv[1]):
        print(f"  {cpu:8.1f} s  {cpu / n:6.3f} s a cell  {key}")
    for side in ("awa", "own"):
        s = sum(v for k, v in total.items() if k.startswith(side + ":"))
        print(f"{side}: {s:.1f} s, {s / n:.3f} s a cell")
    per = collections.Counter(c["engine"] + "." + c["scenario"] for c in cells.values())
    print("\nbackends by scenario (CPU-s a cell: awa's processes' backends, the oracle's)")
    for k, v in sorted(by_scenario.items(), key=lambda kv: -sum(kv[1].values())):
        print(f"  {k:45s} n={per[k]:3d}  awa {v['awa'] / per[k]:.2f}  own {v['own'] / per[k]:.2f}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
