"""Web servers for the http kind's tests and benchmark, on loopback only, always stopped:

  Site       a generated site of pages with links (deterministic from a seed), on disk
  Nginx      Debian's nginx as an ordinary process (no service), configured in a temporary
             directory, serving a Site on a free loopback port
  BadServer  a small misbehaving HTTP/1.1 server (asyncio, in a thread) that delays, stalls,
             resets, answers 4xx/5xx/429 with Retry-After, sends oversized bodies, drips a byte
             a second, closes without a response, fails N times then succeeds, redirects; it
             logs the time (CLOCK_MONOTONIC, as evfarm's records) of every request.
"""
import asyncio
import fcntl
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

WORDS = ("alpha beta gamma delta evfarm crawler event loop libev curl rank node batch page link "
         "parse hash format body header index archive section table list item value").split()


def free_port():
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class Site:
    """`n` pages p/<k>.html of sizes uniform in [min_bytes, max_bytes] (by `seed`), each with
    links to other pages (href=...), some in upper case (HREF=), and text lines.  Built once
    into `root` (a lock file makes concurrent builders wait for the first)."""

    def __init__(self, root, n, min_bytes, max_bytes, seed=1):
        self.root, self.n = root, n
        self.min_bytes, self.max_bytes, self.seed = min_bytes, max_bytes, seed
        os.makedirs(root, exist_ok=True)
        stamp = os.path.join(root, ".built-%d-%d-%d-%d" % (n, min_bytes, max_bytes, seed))
        with open(os.path.join(root, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(stamp):
                self._build()
                open(stamp, "w").close()

    def path(self, k):
        return "p/%d.html" % k

    def _build(self):
        rnd = random.Random(self.seed)
        pool_lines = []
        for _ in range(4000):
            words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 14)))
            pool_lines.append(words)
        pool = ("\n".join(pool_lines) + "\n").encode()
        d = os.path.join(self.root, "p")
        os.makedirs(d, exist_ok=True)
        for k in range(1, self.n + 1):
            size = rnd.randint(self.min_bytes, self.max_bytes)
            head = b"<html><head><title>page %d</title></head><body>\n" % k
            links = b"".join(b'<a %s="/p/%d.html">link %d</a>\n'
                             % (b"HREF" if j % 5 == 0 else b"href", rnd.randint(1, self.n), j)
                             for j in range(rnd.randint(0, 20)))
            body = bytearray(head + links)
            off = rnd.randrange(len(pool))
            while len(body) < size:
                take = pool[off:off + size - len(body)]
                body += take
                off = 0
            with open(os.path.join(d, "%d.html" % k), "wb") as f:
                f.write(bytes(body[:size]))

    def urls(self, base, ids):
        return ["%s/%s" % (base, self.path(k)) for k in ids]


class Nginx:
    """nginx serving `root` on 127.0.0.1:<free port> with `workers` worker processes and
    keep-alive; started by start(), stopped by stop() (or the with statement).  `http_extra` and
    `server_extra` are more directives for its http and server blocks.  `listen` "*" (in a
    network namespace of its own, where every address is loopback) serves all of 127/8;
    `connections` per worker."""

    def __init__(self, root, workers=1, http_extra="", server_extra="", listen="127.0.0.1",
                 connections=8192):
        self.root, self.workers = os.path.abspath(root), workers
        self.http_extra, self.server_extra = http_extra, server_extra
        self.listen, self.connections = listen, connections
        self.dir = tempfile.mkdtemp(prefix="evfarm-nginx-")
        self.proc, self.port = None, None

    def _conf(self):
        d = self.dir
        user = "user root;\n" if os.geteuid() == 0 else ""
        return f"""{user}worker_processes {self.workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile {2 * self.connections + 64};
events {{ worker_connections {self.connections}; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  types {{ text/html html; }}
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  {self.http_extra}
  server {{
    listen {self.listen}:{self.port} backlog=4096;
    root {self.root};
    location / {{ }}
    {self.server_extra}
  }}
}}
"""

    def start(self):
        for _ in range(5):
            self.port = free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(self._conf())
            self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-c", conf, "-e",
                                          os.path.join(self.dir, "error.log"), "-g",
                                          "daemon off;"], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, start_new_session=True)
            if wait_listening(self.port, 5.0) and self.proc.poll() is None:
                return self
            self.stop(remove=False)
        raise RuntimeError("nginx did not start: %s" % self.log())

    def log(self):
        try:
            return open(os.path.join(self.dir, "error.log")).read()[-2000:]
        except OSError:
            return ""

    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self, remove=True):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class LoopServer:
    """An asyncio server in a thread of its own: _serve() (a coroutine) starts the listeners
    into self.servers and sets self.port; start() waits for it, stop() closes every listener,
    cancels every connection and joins the thread."""

    def __init__(self):
        self.port, self.servers = None, []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())
        self.ready.set()
        self.loop.run_forever()

    def start(self):
        self.thread.start()
        self.ready.wait(10)
        return self

    def stop(self):
        async def shut():
            for srv in self.servers:
                srv.close()
            tasks = [t for t in asyncio.all_tasks(self.loop) if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()
        asyncio.run_coroutine_threadsafe(shut(), self.loop)
        self.thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class BadServer(LoopServer):
    """The misbehaving server.  Paths:
      /ok/N             200, N bytes
      /delay/MS         200 after MS milliseconds
      /stall            200 with Content-Length 1000, 100 bytes, then nothing (never closes)
      /drip             200 with Content-Length 100, one byte a second
      /reset            a TCP reset instead of a response
      /close            the connection closed without a response
      /status/CODE      CODE with a short body
      /retry-after/S    429 with Retry-After: S
      /big/N            200 with an N-byte body (for --max-body)
      /flaky/KEY/N      503 for the first N requests of KEY, then 200
      /limited/KEY/N    429 (Retry-After: 0) for the first N requests of KEY, then 200
      /redirect/N       302 to /redirect/N-1; /redirect/0 is 200
      /slowredirect/N/MS  after MS milliseconds, 302 to /slowredirect/N-1/MS; N = 0: 200
    `log[path]` lists the time.monotonic() of each request of that path."""

    def __init__(self):
        super().__init__()
        self.log, self.counts = {}, {}

    def body(self, path, size):
        """The deterministic body of a path: the same bytes for the oracle."""
        rnd = random.Random(path)
        line = (path + " " + " ".join(rnd.choice(WORDS) for _ in range(8)) + "\n").encode()
        return (line * (size // len(line) + 1))[:size]

    async def _respond(self, writer, code, body, extra=b""):
        reason = {200: b"OK", 302: b"Found", 404: b"Not Found", 429: b"Too Many Requests",
                  500: b"Internal Server Error", 503: b"Service Unavailable"}.get(code, b"X")
        writer.write(b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n%s\r\n"
                     % (code, reason, len(body), extra) + body)
        await writer.drain()

    async def _handle(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                self.log.setdefault(path, []).append(time.monotonic())
                parts = path.strip("/").split("/")
                kind = parts[0]
                if kind == "ok":
                    await self._respond(writer, 200, self.body(path, int(parts[1])))
                elif kind == "delay":
                    await asyncio.sleep(int(parts[1]) / 1000)
                    await self._respond(writer, 200, self.body(path, 100))
                elif kind == "stall":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
                    await writer.drain()
                    await asyncio.sleep(3600)
                elif kind == "drip":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                    for _ in range(100):
                        writer.write(b"d")
                        await writer.drain()
                        await asyncio.sleep(1)
                elif kind == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                elif kind == "close":
                    writer.close()
                    return
                elif kind == "status":
                    await self._respond(writer, int(parts[1]), b"status %s\n" % parts[1].encode())
                elif kind == "retry-after":
                    await self._respond(writer, 429, b"slow down\n",
                                        b"Retry-After: %s\r\n" % parts[1].encode())
                elif kind == "big":
                    await self._respond(writer, 200, self.body(path, int(parts[1])))
                elif kind == "flaky":
                    n = self.counts.get(path, 0)
                    self.counts[path] = n + 1
                    if n < int(parts[2]):
                        await self._respond(writer, 503, b"try again\n")
                    else:
                        await self._respond(writer, 200, self.body(path, 500))
                elif kind == "limited":
                    n = self.counts.get(path, 0)
                    self.counts[path] = n + 1
                    if n < int(parts[2]):
                        await self._respond(writer, 429, b"slow down\n", b"Retry-After: 0\r\n")
                    else:
                        await self._respond(writer, 200, self.body(path, 700))
                elif kind == "redirect":
                    k = int(parts[1])
                    if k > 0:
                        await self._respond(writer, 302, b"",
                                            b"Location: /redirect/%d\r\n" % (k - 1))
                    else:
                        await self._respond(writer, 200, self.body(path, 300))
                elif kind == "slowredirect":
                    k, ms = int(parts[1]), int(parts[2])
                    await asyncio.sleep(ms / 1000)
                    if k > 0:
                        await self._respond(writer, 302, b"", b"Location: /slowredirect/%d/%d\r\n"
                                            % (k - 1, ms))
                    else:
                        await self._respond(writer, 200, self.body(path, 300))
                else:
                    await self._respond(writer, 404, b"no such path\n")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def _serve(self):
        srv = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        self.servers = [srv]
        self.port = srv.sockets[0].getsockname()[1]

    def base(self):
        return "http://127.0.0.1:%d" % self.port


class HostsServer(LoopServer):
    """Many hosts on loopback: one asyncio server (in a thread) listening on the same port on
    each of 127.0.0.2, 127.0.0.3, ... (n addresses, on into 127.0.1.0 ...), HTTP/1.1 with
    keep-alive.  Each host serves
      files[(ip, path)]  (status, body bytes[, extra header bytes[, seconds before it]]), or a
                         list of them served in turn (the last one again and again)
      /robots.txt        otherwise 404
      /delay/MS/...      200 after MS milliseconds
      anything else      200, a short body naming the host and path
    `events` lists, in order, (kind, time.monotonic(), ip, connection number[, path]) with kind
    "open" (a connection accepted), "req" (a request's head read; its bytes follow the path)
    and "close"."""

    def __init__(self, n, files=None):
        super().__init__()
        self.ips = ["127.0.%d.%d" % ((k + 2) // 256, (k + 2) % 256) for k in range(n)]
        self.files = dict(files or {})
        self.served = {}
        self.events, self.conns = [], 0

    def body(self, ip, path):
        return ("page %s%s\n" % (ip, path)).encode()

    async def _handle(self, reader, writer):
        ip = writer.get_extra_info("sockname")[0]
        self.conns += 1
        cid = self.conns
        self.events.append(("open", time.monotonic(), ip, cid))
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                self.events.append(("req", time.monotonic(), ip, cid, path, head))
                extra = b""
                f = self.files.get((ip, path))
                if isinstance(f, list):
                    k = self.served.get((ip, path), 0)
                    self.served[(ip, path)] = k + 1
                    f = f[min(k, len(f) - 1)]
                if f is None and path == "/robots.txt":
                    f = (404, b"none\n")
                if f is not None:
                    code, body, extra, delay = (tuple(f) + (b"", 0)[len(f) - 2:])[:4]
                    await asyncio.sleep(delay)
                else:
                    if path.startswith("/delay/"):
                        await asyncio.sleep(int(path.split("/")[2]) / 1000)
                    code, body = 200, self.body(ip, path)
                writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n"
                             b"%s\r\n" % (code, len(body), extra) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.events.append(("close", time.monotonic(), ip, cid))
            try:
                writer.close()
            except Exception:
                pass

    async def _serve(self):
        port = 0
        for ip in self.ips:  # the first picks a free port, the others take the same
            srv = await asyncio.start_server(self._handle, ip, port, backlog=1024)
            port = srv.sockets[0].getsockname()[1]
            self.servers.append(srv)
        self.port = port

    def url(self, ip, path):
        return "http://%s:%d%s" % (ip, self.port, path)
