"""Replica freshness: two `medulla serve` on one PostgreSQL registry, on 127.0.0.1.

Usage: python3 scripts/replica-freshness.py postgres://USER@HOST:PORT/DB
(MEDULLA_BIN names the binary; default target/release/medulla). The registry should hold
donors already (BENCHMARKS.md used 1,000,000). Twenty rounds: a donor imported through A's
API until B's search counts it, then made unavailable through B until A's search no longer
counts it; then B is killed, a command changes the donor, and B restarted must count it.
Adds an admin account `bench` and donors RPL3xxxx to the registry.
"""
import json, subprocess, sys, time, urllib.request, statistics, os
M = os.environ.get("MEDULLA_BIN", "target/release/medulla")
URL = sys.argv[1]
PATIENT = "A*01:01+A*02:01^B*08:01+B*44:02^C*07:01+C*05:01^DRB1*03:01+DRB1*04:01^DQB1*02:01+DQB1*03:01"
env = dict(os.environ, MEDULLA_QUIET="1")
subprocess.run([M, "users", "--db", URL, "add", "bench", "--role", "admin"], input=b"correct horse battery\n", env=env, capture_output=True)
def start():
    p = subprocess.Popen([M, "serve", "--db", URL, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    line = p.stdout.readline().decode().strip()
    return p, "http://" + line.split("listening on ")[1]
def call(base, path, body=None, token=None, ctype="application/json", method=None):
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    r = urllib.request.Request(base + path, data=data, method=method)
    r.add_header("Content-Type", ctype)
    if token: r.add_header("Authorization", "Bearer " + token)
    return json.loads(urllib.request.urlopen(r).read())
t0 = time.time(); a, A = start(); b, B = start(); print(f"two replicas up in {time.time()-t0:.1f} s")
tok = call(A, "/api/v1/login", {"username": "bench", "password": "correct horse battery"})["token"]
def total(base):
    return call(base, "/api/v1/search", {"patient": PATIENT, "mismatches": 0, "limit": 1}, tok)["total"]
searches = []
def found(base, donor, want):
    t = time.time(); n = total(base); searches.append(time.time() - t)
    return n == want
imp, st = [], []
base = total(A)
for i in range(20):
    d = f"RPL3{i:04d}"
    csv = f"id,registry,donor_type,birth_date,gl\n{d},SYNTH,adult,1990-01-01,\"{PATIENT}\"\n".encode()
    t = time.time(); call(A, "/api/v1/donors/import?name=bench", csv, tok, "text/csv")
    while not found(B, d, base + 1): time.sleep(0.01)
    imp.append(time.time() - t)
    t = time.time(); call(B, f"/api/v1/donors/{d}/status", {"status": "temporarily-unavailable", "reason": "travel", "until": "2099-01-01"}, tok)
    while not found(A, d, base): time.sleep(0.01)
    st.append(time.time() - t)
def show(name, xs):
    xs = sorted(xs); print(f"{name}: n={len(xs)} median {statistics.median(xs)*1000:.0f} ms, max {xs[-1]*1000:.0f} ms")
show("import through A, found by a search on B", imp)
show("status change through B, gone from A's searches", st)
# B killed; a change while it is down; B restarted catches up
b.kill(); b.wait()
subprocess.run([M, "donors", "--db", URL, "set-status", "RPL30000", "--status", "available", "--by", "bench"], env=env, capture_output=True)
t = time.time(); b, B = start(); up = time.time() - t
print(f"B restarted in {up:.1f} s; finds the change made while it was down: {total(B) == base + 1}")
show("one search (the polling step)", searches)
a.kill(); b.kill()
