"""--kind http --warc DIR against nginx and the misbehaving server on loopback, started and
stopped here.  Every WARC file is read twice: by this file's own reader (gzip members one by
one, WARC headers, Content-Length, block and payload digests recomputed with hashlib, bodies
compared byte for byte with the files nginx served) and by an independent one, webrecorder's
warcio (npm), whose index must list the same records at the same offsets.  The records'
warc_file/warc_offset/warc_length must open each task's response.

Runs under Debian's /usr/bin/python3.  One ctest per case (--list, --case).
"""
import base64
import csv
import glob
import gzip
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import Check, cases_main, cases_of, process_rank  # noqa: E402
from webservers import BadServer, Nginx, Site  # noqa: E402

PAGES = 60
NAME = "evfarm-%05d-%05d.warc.gz"

# nginx: gzip (chunked, when asked), redirects, pages that opt out (or opt out for another
# robot only), a missing page.
NGINX_HTTP = "gzip on; gzip_types text/html; gzip_min_length 1;"
NGINX_SERVER = r"""
    location ~ ^/r/(\d+)$ { return 301 /p/$1.html; }
    location ~ ^/rr/(\d+)$ { return 302 /r/$1; }
    location /noai/ { alias ROOT/p/; add_header X-Robots-Tag "noai"; }
    location /noindex/ { alias ROOT/p/; add_header X-Robots-Tag "googlebot: nofollow";
                         add_header X-Robots-Tag "evfarm: noindex, nofollow"; }
    location /otherbot/ { alias ROOT/p/; add_header X-Robots-Tag "otherbot: noai"; }
    location /testbot/ { alias ROOT/p/; add_header X-Robots-Tag "TestBot: noimageai"; }
"""


def b32sha1(data):
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def dechunk(body):
    """The data of a chunked body (this file's own parser)."""
    out, at = b"", 0
    while True:
        eol = body.index(b"\r\n", at)
        size = int(body[at:eol].split(b";")[0], 16)
        at = eol + 2
        if size == 0:
            return out
        out += body[at:at + size]
        assert body[at + size:at + size + 2] == b"\r\n", "chunk not followed by CRLF"
        at += size + 2


def http_parts(block):
    """(status line, {lower-case name: [values]}, body) of an HTTP message."""
    head, _, body = block.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for x in lines[1:]:
        k, _, v = x.partition(":")
        fields.setdefault(k.strip().lower(), []).append(v.strip())
    return lines[0], fields, body


def payload_of(block):
    """The entity body with its transfer encoding removed (what WARC-Payload-Digest covers)."""
    _, fields, body = http_parts(block)
    if any("chunked" in v.lower() for v in fields.get("transfer-encoding", [])):
        return dechunk(body)
    return body


def decoded_of(block):
    """The payload with its content encoding removed too (what the server had)."""
    _, fields, _ = http_parts(block)
    data = payload_of(block)
    if any(v.lower() == "gzip" for v in fields.get("content-encoding", [])):
        return gzip.decompress(data)
    return data


class Record:
    pass


def read_warc(c, path):
    """Every record of a WARC file (one gzip member each), checked as it is read."""
    data = memoryview(open(path, "rb").read())
    out, at = [], 0
    while at < len(data):
        d = zlib.decompressobj(31)
        raw = d.decompress(data[at:])
        if not c(d.eof, "%s: a gzip member at %d does not end (a torn record)" % (path, at)):
            break
        used = len(data) - at - len(d.unused_data)
        head, sep, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8").split("\r\n")
        r = Record()
        r.path, r.offset, r.length = path, at, used
        r.version = lines[0]
        r.h = {}
        for x in lines[1:]:
            k, _, v = x.partition(": ")
            r.h[k.lower()] = v
        n = int(r.h.get("content-length", "-1"))
        r.block = rest[:n]
        c(r.version == "WARC/1.1", "%s@%d: %r" % (path, at, r.version))
        c(sep and len(rest) == n + 4 and rest[n:] == b"\r\n\r\n",
          "%s@%d: block of %d bytes, Content-Length %d, or no CRLF CRLF after it"
          % (path, at, len(rest) - 4, n))
        for k in ("warc-type", "warc-record-id", "warc-date", "content-type"):
            c(k in r.h, "%s@%d: no %s" % (path, at, k))
        c(r.h.get("warc-block-digest") in (None, b32sha1(r.block)) and
          (r.h["warc-type"] == "warcinfo" or "warc-block-digest" in r.h),
          "%s@%d: block digest %s, computed %s" % (path, at, r.h.get("warc-block-digest"),
                                                   b32sha1(r.block)))
        if r.h["warc-type"] == "response":
            c(r.h.get("warc-payload-digest") == b32sha1(payload_of(r.block)),
              "%s@%d: payload digest %s, computed %s" % (path, at, r.h.get("warc-payload-digest"),
                                                         b32sha1(payload_of(r.block))))
            c(r.h.get("content-type") == "application/http;msgtype=response", "response type")
        if r.h["warc-type"] == "request":
            c(r.h.get("content-type") == "application/http;msgtype=request", "request type")
        out.append(r)
        at += used
    return out


def read_dir(c, d, warcio):
    """Every file of a WARC directory: {name: [records]}; each also indexed by warcio, which
    must list the same records at the same offsets; each starts with its warcinfo, every
    other record names it, requests and responses pair up."""
    files = {}
    names = sorted(os.listdir(d))
    c(not [x for x in names if x.endswith(".open")], "files left open: %r" % names)
    for name in names:
        path = os.path.join(d, name)
        recs = read_warc(c, path)
        files[name] = recs
        p = subprocess.run([warcio, "index", path], capture_output=True, text=True,
                           timeout=120)
        if not c(p.returncode == 0, "warcio index %s: %s" % (name, p.stderr[-1000:])):
            continue
        theirs = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
        ours = [{"offset": r.offset, "warc-type": r.h["warc-type"],
                 **({"warc-target-uri": r.h["warc-target-uri"]}
                    if "warc-target-uri" in r.h else {})} for r in recs]
        c(theirs == ours, "%s: warcio lists %r..., we read %r..." % (name, theirs[:3], ours[:3]))
        if not c(recs and recs[0].h["warc-type"] == "warcinfo", "%s: no warcinfo first" % name):
            continue
        info = recs[0]
        c(info.h.get("warc-filename") == name, "%s: WARC-Filename %r" % (name,
                                                                       info.h.get("warc-filename")))
        c(b"software: evfarm/" in info.block, "%s: warcinfo %r" % (name, info.block[:200]))
        ids = {r.h["warc-record-id"]: r for r in recs}
        c(len(ids) == len(recs), "%s: record ids repeat" % name)
        for r in recs[1:]:
            c(r.h.get("warc-warcinfo-id") == info.h["warc-record-id"],
              "%s@%d: WARC-Warcinfo-ID %r" % (name, r.offset, r.h.get("warc-warcinfo-id")))
            other = ids.get(r.h.get("warc-concurrent-to"))
            c(other is not None and other.h.get("warc-concurrent-to") == r.h["warc-record-id"]
              and other.h.get("warc-target-uri") == r.h.get("warc-target-uri") and
              {other.h["warc-type"], r.h["warc-type"]} == {"request", "response"},
              "%s@%d: no request/response pair" % (name, r.offset))
            c(r.h.get("warc-ip-address") == "127.0.0.1", "%s@%d: WARC-IP-Address %r"
              % (name, r.offset, r.h.get("warc-ip-address")))
    return files


def responses(files):
    """(path of the URI, payload digest) of every response record but robots.txt's (each rank
    that crawls a host fetches it), as a sorted list (the servers' ports differ between runs)."""
    return sorted(("/" + r.h["warc-target-uri"].split("/", 3)[3], r.h["warc-payload-digest"])
                  for recs in files.values() for r in recs if r.h["warc-type"] == "response" and
                  not r.h["warc-target-uri"].endswith("/robots.txt"))


class Run:
    def __init__(self, a, c, name):
        self.a, self.c = a, c
        self.dir = os.path.join(a.outdir, "warc_" + name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.warc = os.path.join(self.dir, "warc")
        os.makedirs(self.warc)

    def urls_file(self, lines, name="urls.txt"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def evfarm(self, np_, args, want_exit=None, timeout=240, warc=True):
        out = os.path.join(self.dir, "records.csv")
        summ = os.path.join(self.dir, "summary.json")
        for p in (out, summ):
            if os.path.exists(p):
                os.unlink(p)
        # One host: no per-host limit (--host-connections 0), so its URLs spread over the ranks
        # (with one, they would all go to the rank that owns the host).
        cmd = [self.a.mpirun, "-np", str(np_), self.a.evfarm, "--kind", "http", "--output", out,
               "--json", summ, "--quiet", "--host-connections", "0"] + \
            (["--warc", self.warc] if warc else []) + args
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.c(False, "timed out (a hang): %s" % " ".join(cmd))
            return None, None, None
        if want_exit is not None:
            self.c(p.returncode == want_exit, "exit %d, want %d; stderr:\n%s"
                   % (p.returncode, want_exit, p.stderr[-3000:]))
        if not os.path.exists(out):
            return p, None, None
        recs = list(csv.DictReader(open(out)))
        for r in recs:
            for k in ("id", "rank", "http_status", "redirects", "warc_offset", "warc_length"):
                r[k] = int(r[k])
        return p, recs, json.load(open(summ)) if os.path.exists(summ) else None


def found(c, files, x):
    """The response record a task's record points at, or None."""
    recs = files.get(x["warc_file"], [])
    hit = [r for r in recs if r.offset == x["warc_offset"]]
    if not c(hit and hit[0].length == x["warc_length"] and hit[0].h["warc-type"] == "response",
             "id %d: %s@%d+%d is not a response record" % (x["id"], x["warc_file"],
                                                            x["warc_offset"], x["warc_length"])):
        return None
    return hit[0]


def site_run(c, a, np_, name, extra=()):
    """The site, redirects, gzip (with --compressed), pages that opt out and a missing one:
    returns (records, files, site root, urls by kind) after checking them all."""
    site = Site(os.path.join(a.outdir, "warc_site"), PAGES, 200, 40000)
    r = Run(a, c, name)
    server = NGINX_SERVER.replace("ROOT", os.path.abspath(site.root))
    with Nginx(site.root, http_extra=NGINX_HTTP, server_extra=server) as ng:
        b = ng.base()
        kinds = {}
        for k in range(1, PAGES + 1):
            kinds[b + "/p/%d.html" % k] = ("page", k)
        for k in range(1, 6):
            kinds[b + "/r/%d" % k] = ("redirect", k)
            kinds[b + "/rr/%d" % k] = ("redirect2", k)
            kinds[b + "/noai/%d.html" % k] = ("optout", k)
            kinds[b + "/noindex/%d.html" % k] = ("optout", k)
            kinds[b + "/otherbot/%d.html" % k] = ("page_other", k)
            kinds[b + "/testbot/%d.html" % k] = ("optout", k)  # our --user-agent's token
        kinds[b + "/missing.html"] = ("missing", 0)
        urls = list(kinds)
        p, recs, s = r.evfarm(np_, ["--urls", r.urls_file(urls), "--user-agent", "testbot/1.0",
                                    "--header", "X-Test: yes"] + list(extra), want_exit=1)
    if recs is None:
        return None
    files = read_dir(c, r.warc, a.warcio)
    c(len(recs) == len(urls), "%d records, want %d" % (len(recs), len(urls)))
    kept = 0
    for x in recs:
        kind, k = kinds[x["url"]]
        page = open(os.path.join(site.root, "p", "%d.html" % k), "rb").read() if k else None
        if kind == "optout":
            c(x["status"] == "opted_out" and x["warc_file"] == "" and x["warc_length"] == 0 and
              x["hash"] == "0" * 16 and x["lines"] == "0",
              "id %d %s: status %s, warc %r, hash %s: processed or kept" %
              (x["id"], x["url"], x["status"], x["warc_file"], x["hash"]))
            continue
        if kind == "missing":
            c(x["status"] == "http_error" and x["http_status"] == 404, "missing: %r" % x)
        else:
            c(x["status"] == "ok" and x["http_status"] == 200, "id %d %s: status %s, http %d"
              % (x["id"], x["url"], x["status"], x["http_status"]))
        resp = found(c, files, x)
        if resp is None:
            continue
        kept += 1
        final = x["url"] if kind in ("page", "page_other", "missing") else \
            x["url"].split("/r")[0] + "/p/%d.html" % k
        c(resp.h["warc-target-uri"] == final, "id %d: response of %s, want %s"
          % (x["id"], resp.h["warc-target-uri"], final))
        status, fields, _ = http_parts(resp.block)
        if page is not None:
            c(decoded_of(resp.block) == page, "id %d: the stored body is not the file" % x["id"])
        if "--compressed" in extra and page is not None:
            c(fields.get("content-encoding") == ["gzip"] and
              any("chunked" in v for v in fields.get("transfer-encoding", [])),
              "id %d: --compressed, but %r" % (x["id"], fields))
        # The request as sent: the method, the path, our User-Agent and header.
        req = [q for q in files[x["warc_file"]] if q.h["warc-record-id"] ==
               resp.h["warc-concurrent-to"]][0]
        line, rf, _ = http_parts(req.block)
        c(line == "GET /%s HTTP/1.1" % final.split("/", 3)[3] and
          rf.get("user-agent") == ["testbot/1.0"] and rf.get("x-test") == ["yes"],
          "id %d: request %r %r" % (x["id"], line, rf))
        # Redirects: every hop is kept, in order, before the final response.
        hops = {"redirect": 1, "redirect2": 2}.get(kind, 0)
        c(x["redirects"] == hops, "id %d: %d redirects" % (x["id"], x["redirects"]))
        if hops:
            seq = files[x["warc_file"]]
            at = seq.index(resp)
            before = [q for q in seq[at - 2 * hops:at] if q.h["warc-type"] == "response"]
            codes = [http_parts(q.block)[0].split()[1] for q in before]
            c(codes == (["302", "301"] if hops == 2 else ["301"]),
              "id %d: the hops before its response: %r" % (x["id"], codes))
    # robots.txt (--robots obey): kept once by each rank that fetched from the site, as the
    # first response of the rank's first file, with the request as sent.
    robots = [q for v in files.values() for q in v if q.h["warc-type"] == "response" and
              q.h["warc-target-uri"] == b + "/robots.txt"]
    ranks = {x["rank"] for x in recs}
    c(len(robots) == len(ranks), "%d robots.txt responses kept, want one per rank (%d)"
      % (len(robots), len(ranks)))
    for f, v in files.items():
        first = [q for q in v if q.h["warc-type"] == "response"][:1]
        if f.endswith("-00000.warc.gz") and first:
            c(first[0].h["warc-target-uri"] == b + "/robots.txt" and
              http_parts(first[0].block)[0].split()[1] == "404",
              "%s: the first response is %s, not robots.txt's 404" %
              (f, first[0].h["warc-target-uri"]))
    nresp = sum(1 for recs_ in files.values() for q in recs_ if q.h["warc-type"] == "response")
    hops = sum(x["redirects"] for x in recs if x["warc_length"])
    c(nresp == kept + hops + len(robots), "%d responses in the files, %d kept + %d hops + %d "
      "robots.txt" % (nresp, kept, hops, len(robots)))
    w = s["kind"]["warc"]
    size = sum(os.path.getsize(os.path.join(r.warc, f)) for f in files)
    c(w["fetches"] == kept + len(robots) and w["files"] == len(files) and w["bytes"] == size and
      w["records"] == sum(len(v) for v in files.values()),
      "summary %r: %d kept + %d robots.txt, %d files, %d bytes"
      % (w, kept, len(robots), len(files), size))
    c(s["status"]["opted_out"] == 15, "summary statuses %r" % s["status"])
    return recs, files, r


def case_site_np1(c, a):
    site_run(c, a, 1, "site_np1")


def case_site_np2_compressed(c, a):
    site_run(c, a, 2, "site_np2_compressed", ["--compressed"])


def case_same_set_np123(c, a):
    """np 1, 2 and 3 keep the same responses (by URL and payload digest)."""
    sets = []
    for np_ in (1, 2, 3):
        got = site_run(c, a, np_, "same_np%d" % np_, ["--compressed"])
        if got is None:
            return
        sets.append(responses(got[1]))
        c(len({x["rank"] for x in got[0]}) == np_, "np %d: not every rank fetched" % np_)
    c(sets[0] == sets[1] == sets[2], "the responses kept differ between np 1, 2, 3")


def case_ignore_opt_out(c, a):
    """--ignore-opt-out keeps the pages that opt out, with their X-Robots-Tag."""
    got = None
    site = Site(os.path.join(a.outdir, "warc_site"), PAGES, 200, 40000)
    r = Run(a, c, "ignore_opt_out")
    server = NGINX_SERVER.replace("ROOT", os.path.abspath(site.root))
    with Nginx(site.root, http_extra=NGINX_HTTP, server_extra=server) as ng:
        urls = [ng.base() + "/noai/%d.html" % k for k in range(1, 11)]
        p, recs, s = r.evfarm(1, ["--urls", r.urls_file(urls), "--ignore-opt-out"], want_exit=0)
    if recs is None:
        return
    files = read_dir(c, r.warc, a.warcio)
    for x in recs:
        got = found(c, files, x)
        c(x["status"] == "ok" and got is not None and
          http_parts(got.block)[1].get("x-robots-tag") == ["noai"], "id %d: %r" % (x["id"], x))


def case_retries(c, a):
    """Only what the run kept is stored: a 429 then 200 keeps the 200 alone; a 503 then 200
    the 200; a 429 on every attempt keeps the last 429; a reset or a timeout keeps nothing."""
    r = Run(a, c, "retries")
    with BadServer() as bad:
        b = bad.base()
        urls = [b + "/limited/a/1", b + "/flaky/b/2", b + "/limited/c/9", b + "/reset",
                b + "/stall", b + "/ok/5000"]
        p, recs, s = r.evfarm(1, ["--urls", r.urls_file(urls), "--retries", "2",
                                  "--retry-delay", "0", "--timeout", "1"], want_exit=1)
    if recs is None:
        return
    files = read_dir(c, r.warc, a.warcio)
    want = {"/limited/a/1": ("200", 2), "/flaky/b/2": ("200", 3), "/limited/c/9": ("429", 3),
            "/reset": (None, 3), "/stall": (None, 3), "/ok/5000": ("200", 1)}
    per_uri = {}
    for recs_ in files.values():
        for q in recs_:
            if q.h["warc-type"] == "response":
                per_uri.setdefault(q.h["warc-target-uri"].split("/", 3)[3], []).append(q)
    for x in recs:
        path = "/" + x["url"].split("/", 3)[3]
        code, attempts = want[path]
        c(int(x["attempts"]) == attempts, "%s: %s attempts, want %d" % (path, x["attempts"],
                                                                       attempts))
        kept = per_uri.get(path[1:], [])
        if code is None:
            c(not kept and x["warc_length"] == 0, "%s: kept %d responses" % (path, len(kept)))
            continue
        c(len(kept) == 1 and http_parts(kept[0].block)[0].split()[1] == code,
          "%s: kept %r, want one %s" % (path, [http_parts(q.block)[0] for q in kept], code))
        got = found(c, files, x)
        c(got is not None and got is kept[0] if kept else False, "%s: record points elsewhere"
          % path)
        if code == "200":
            c(payload_of(got.block) == bad.body(path, 700 if "limited" in path else
                                                5000 if "ok" in path else 500),
              "%s: the stored body is not the server's" % path)


def case_rotation(c, a):
    """--warc-size: a file is closed once past the size and the next one begins; files of a
    rank are numbered 0, 1, ... and none is left open; every response in exactly one file."""
    site = Site(os.path.join(a.outdir, "warc_site"), PAGES, 200, 40000)
    r = Run(a, c, "rotation")
    limit = 60000
    with Nginx(site.root) as ng:
        urls = site.urls(ng.base(), range(1, PAGES + 1))
        p, recs, s = r.evfarm(2, ["--urls", r.urls_file(urls), "--warc-size", str(limit),
                                   "--robots", "ignore"],
                              want_exit=0)
    if recs is None:
        return
    files = read_dir(c, r.warc, a.warcio)
    by_rank = {}
    for name in files:
        by_rank.setdefault(int(name.split("-")[1]), []).append(int(name.split("-")[2][:5]))
    c(sorted(by_rank) == [0, 1], "ranks with files: %r" % sorted(by_rank))
    for rank, seqs in by_rank.items():
        c(sorted(seqs) == list(range(len(seqs))) and len(seqs) >= 3,
          "rank %d: files %r" % (rank, sorted(seqs)))
        for q in sorted(seqs)[:-1]:
            name = NAME % (rank, q)
            recs_ = files[name]
            last_req = max(x.offset for x in recs_ if x.h["warc-type"] == "request")
            size = os.path.getsize(os.path.join(r.warc, name))
            c(last_req < limit <= size, "%s: %d bytes, its last fetch began at %d (limit %d)"
              % (name, size, last_req, limit))
    c(sorted(u for u, _ in responses(files)) == sorted("/" + x["url"].split("/", 3)[3]
                                                        for x in recs),
      "every page once")
    for x in recs:
        found(c, files, x)


def case_bad_dir(c, a):
    """A --warc DIR that is missing, a file, or not writable: one line naming --warc, exit 2,
    every rank, nothing fetched."""
    r = Run(a, c, "bad_dir")
    plain = os.path.join(r.dir, "plain")
    open(plain, "w").close()
    ro = os.path.join(r.dir, "ro")
    os.makedirs(ro)
    os.chmod(ro, 0o555)
    with BadServer() as bad:
        urls = r.urls_file([bad.base() + "/ok/10"])
        for d in (os.path.join(r.dir, "missing"), plain, ro):
            if d == ro and os.geteuid() == 0:
                # root writes anywhere: a read-only bind of it is what stops root
                cmd = ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"',
                       ro]
            else:
                cmd = []
            p = subprocess.run(cmd + [a.mpirun, "-np", "2", a.evfarm, "--kind", "http", "--urls",
                                      urls, "--warc", d, "--quiet"],
                               capture_output=True, text=True, timeout=120)
            ours = [x for x in p.stderr.splitlines() if x.startswith("evfarm")]
            c(p.returncode == 2 and len(ours) == 1 and ours[0].startswith("evfarm: --warc: ")
              and d in ours[0], "%s: exit %d, %r" % (d, p.returncode, p.stderr[-2000:]))
        c(not bad.log, "requests were made: %r" % list(bad.log))


def case_full_disk(c, a):
    """A tmpfs that fills up mid-run: exit 3 with a line naming --warc and the full disk, said
    by the rank it happened on, and every file valid up to its last complete record."""
    if os.geteuid() != 0:
        c(False, "needs root (a tmpfs in a mount namespace)")
        return
    site = Site(os.path.join(a.outdir, "warc_site_big"), 200, 20000, 60000)
    r = Run(a, c, "full_disk")
    fs = r.warc
    with Nginx(site.root) as ng:
        urls = r.urls_file(site.urls(ng.base(), range(1, 201)))
        script = ('mount -t tmpfs -o size=1m tmpfs "$0" && "$@"; rc=$?; '
                  'mkdir -p "$0.copy" && cp -a "$0/." "$0.copy/"; exit $rc')
        p = subprocess.run(["unshare", "-m", "sh", "-c", script, fs, a.mpirun, "-np", "2",
                            a.evfarm, "--kind", "http", "--urls", urls, "--warc", fs,
                            "--quiet", "--warc-size", "300000"],
                           capture_output=True, text=True, timeout=240)
    ours = [x for x in p.stderr.splitlines() if x.startswith("evfarm")]
    c(p.returncode == 3, "exit %d, want 3: %s" % (p.returncode, p.stderr[-2000:]))
    c(any("--warc" in x and "No space left on device" in x for x in ours), "stderr %r" % ours)
    copy = fs + ".copy"
    names = sorted(os.listdir(copy))
    c(names and not [x for x in names if x.endswith(".open")], "files: %r" % names)
    n = 0
    for name in names:
        recs = read_warc(c, os.path.join(copy, name))
        n += len(recs)
        c(recs and recs[-1].h["warc-type"] in ("response", "warcinfo"),
          "%s: ends with a %s" % (name, recs[-1].h["warc-type"] if recs else None))
    c(n > 2, "only %d records kept" % n)


def journaled(jdir):
    """Bytes in the journal's files (grows as records are written out)."""
    return sum(os.path.getsize(x) for x in glob.glob(os.path.join(jdir, "*.journal")))


def kill_rank1(c, cmd, ready):
    """Start the job `cmd`, wait (deadline 120 s) until ready() holds, kill -9 its rank 1, and
    wait for the job to end (it must, within 60 s)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None and not ready():
        time.sleep(0.01)
    pids = subprocess.run(["pgrep", "-s", str(p.pid), "-x", "evfarm"], capture_output=True,
                          text=True).stdout.split()
    ranks = {process_rank(pid)[1]: int(pid) for pid in pids}
    c(p.poll() is None and 1 in ranks, "the first run ended early: %r" % ranks)
    if 1 in ranks:
        os.kill(ranks[1], signal.SIGKILL)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        c(False, "the job did not end after a rank was killed")


def case_kill_resume(c, a):
    """kill -9 of a rank mid-crawl, then --resume: every id's response is kept exactly once,
    no file left open, a torn record at the end of a file an earlier run left open is cut."""
    r = Run(a, c, "kill_resume")
    jdir = os.path.join(r.dir, "journal")
    n = 400
    with BadServer() as bad:
        urls = r.urls_file([bad.base() + "/delay/40/%d" % k for k in range(n)])
        cmd = [a.mpirun, "-np", "3", a.evfarm, "--kind", "http", "--urls", urls, "--warc",
               r.warc, "--journal", jdir, "--inflight", "4", "--robots", "ignore", "--host-connections", "0",
               "--output",
               os.path.join(r.dir, "first.csv"), "--quiet"]
        # Wait for a state: journal frames written out and responses kept by rank 1.
        kill_rank1(c, cmd, lambda: journaled(jdir) > 20000 and
                   glob.glob(os.path.join(r.warc, "*-00001-*.open")))
        left = glob.glob(os.path.join(r.warc, "*.open"))
        c(left, "no file was left open by the killed run")
        for x in left:  # a record torn mid-write
            with open(x, "ab") as f:
                f.write(gzip.compress(b"WARC/1.1\r\nWARC-Type: response\r\n" + b"x" * 5000)[:300])
        p2, recs, s = r.evfarm(2, ["--urls", urls, "--journal", jdir, "--resume", "--robots", "ignore"],
                               want_exit=0)
        if recs is None:
            return
        c("cut" in p2.stderr, "nothing said about the cut: %r" % p2.stderr[-2000:])
    files = read_dir(c, r.warc, a.warcio)
    kept = {}
    for recs_ in files.values():
        for q in recs_:
            if q.h["warc-type"] == "response":
                kept.setdefault(q.h["warc-target-uri"], []).append(q)
    c(len(recs) == n, "%d records" % len(recs))
    twice = [u for u, v in kept.items() if len(v) != 1]
    c(not twice, "%d URLs kept more than once: %r" % (len(twice), twice[:5]))
    for x in recs:
        got = found(c, files, x)
        c(got is not None and got.h["warc-target-uri"] == x["url"], "id %d" % x["id"])
    c(len(kept) == n, "%d URLs kept, want %d" % (len(kept), n))


def journal_warc(jdir):
    """{(rank, warc_seq, warc_offset)} of every journaled http record that kept a response
    (frames walked by their sizes; the record's extension read per task_http.c's layout)."""
    out = set()
    for name in os.listdir(jdir):
        if not name.endswith(".journal"):
            continue
        d = open(os.path.join(jdir, name), "rb").read()
        at = d.index(b"\n") + 1
        while at + 16 <= len(d):
            magic, n = struct.unpack_from("<4sI", d, at)
            if at + 16 + n > len(d):
                break
            if magic == b"EVFR":
                body = d[at + 8:at + 8 + n]
                rank = struct.unpack_from("<i", body, 44)[0]
                seq, off, length = struct.unpack_from("<IQQ", body, 64 + 68)
                if length:
                    out.add((rank, seq, off))
            at += 16 + n
    return out


def case_rotation_journal(c, a):
    """A file is closed (given its final name) only once the journal holds every response in
    it: kill -9 a rank that rotates at every fetch, and each of its closed files' responses has
    its journaled record; --resume then keeps every URL once."""
    r = Run(a, c, "rotation_journal")
    jdir = os.path.join(r.dir, "journal")
    n = 600
    with BadServer() as bad:
        urls = r.urls_file([bad.base() + "/delay/5/%d" % k for k in range(n)])
        cmd = [a.mpirun, "-np", "2", a.evfarm, "--kind", "http", "--urls", urls, "--warc",
               r.warc, "--warc-size", "1", "--journal", jdir, "--inflight", "4", "--robots",
               "ignore", "--host-connections", "0", "--quiet"]
        kill_rank1(c, cmd, lambda: len(glob.glob(os.path.join(
            r.warc, "evfarm-00001-*.warc.gz"))) >= 40)
        known = journal_warc(jdir)
        closed = sorted(glob.glob(os.path.join(r.warc, "evfarm-00001-*.warc.gz")))
        c(len(closed) >= 40, "%d files of rank 1 closed" % len(closed))
        unknown = []
        for path in closed:
            seq = int(os.path.basename(path).split("-")[2][:5])
            for q in read_warc(c, path):
                if q.h["warc-type"] == "response" and (1, seq, q.offset) not in known:
                    unknown.append("%s@%d" % (os.path.basename(path), q.offset))
        c(not unknown, "closed files hold %d responses the journal does not know: %r"
          % (len(unknown), unknown[:5]))
        p2, recs, s = r.evfarm(2, ["--urls", urls, "--journal", jdir, "--resume", "--robots", "ignore"],
                               want_exit=0)
    if recs is None:
        return
    files = read_dir(c, r.warc, a.warcio)
    kept = [q.h["warc-target-uri"] for v in files.values() for q in v
            if q.h["warc-type"] == "response"]
    c(sorted(kept) == sorted(x["url"] for x in recs) and len(set(kept)) == n,
      "%d responses kept for %d URLs (%d distinct)" % (len(kept), n, len(set(kept))))


def run(a, fn):
    c = Check("check_warc " + fn.__name__[5:])
    fn(c, a)
    return c.done()


if __name__ == "__main__":
    sys.exit(cases_main(cases_of(globals()), ["--mpirun", "--evfarm", "--outdir", "--warcio"],
                        run))
