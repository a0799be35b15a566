#!/usr/bin/env python3
"""The container check's driver (scripts/check-containers runs it; see there for what it needs).

With real `docker compose` on the repository's own compose files: builds both images, brings the default stack up
on a free host port and walks the path a new user takes (an admin from `fermata user create`, a listener
registered through the API, an upload, a library folder with real-world file names mounted as MUSIC_DIR, scanned
and streamed through nginx with ranges, server-sent events through nginx, plays counted); scales to three backend
replicas and checks requests spread over them; kills one replica under a steady read load and counts failed
requests (must be 0); then the production override (throwaway certificate, read-only roots, limits, three
replicas) with the same path over HTTPS; then the object-storage override (Garage in the stack, media in its bucket,
the store stopped and started under a listener). `docker compose down -v` must leave nothing behind. Any failure prints
the containers' logs. Figures (image sizes, build and start times, memory) go to stdout and, as JSON, to
$CONTAINERS_REPORT when set. Standard library only.
"""

import base64
import concurrent.futures
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = os.environ.get("CONTAINERS_PROJECT", "fermata-check")
ADMIN = ("ci-admin", "ci-admin-password-1")
LISTENER = ("ci-listener", "ci-listener-password-1")
report = {}


def generated_password():
    """A database password as `openssl rand -base64` makes them: with `/` and `+` (and `@`, `#`), which broke the
    URL compose once pasted it into (#41); the backend now gets it apart and encodes it."""
    return "check/" + uuid.uuid4().hex[:12] + "+@#"


def log(message):
    print(f"==> containers: {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Stack:
    """One compose project: the repository's compose files plus the check's own override."""

    def __init__(self, files, env):
        self.files = files
        # Compose builds with its own BuildKit client; without this it first looks for buildx (bake) and warns.
        self.env = {**os.environ, "COMPOSE_BAKE": "false", **env}

    def compose(self, *args, capture=False, stdin=None, check_rc=True, timeout=1800):
        command = ["docker", "compose", "-p", PROJECT]
        for f in self.files:
            command += ["-f", f]
        result = subprocess.run(
            command + list(args),
            cwd=REPO,
            env=self.env,
            input=stdin,
            text=True,
            capture_output=capture,
            timeout=timeout,
        )
        if check_rc and result.returncode != 0:
            raise Failure(f"docker compose {' '.join(args)} exited {result.returncode}: {result.stderr or ''}")
        return result.stdout if capture else None

    def ids(self, service):
        return self.compose("ps", "-q", service, capture=True).split()

    def print_logs(self):
        print("---- container logs ----", flush=True)
        self.compose("ps", "-a", check_rc=False)
        self.compose("logs", "--no-color", "--tail", "150", check_rc=False)

    def down(self):
        self.compose("down", "-v", "--remove-orphans", check_rc=False, capture=True)
        label = f"label=com.docker.compose.project={PROJECT}"
        for kind, command in (("containers", ["ps", "-a"]), ("volumes", ["volume", "ls"]), ("networks", ["network", "ls"])):
            left = subprocess.run(["docker", *command, "-q", "--filter", label], capture_output=True, text=True).stdout
            check(not left.split(), f"`docker compose down -v` left {kind}: {left.split()}")


class Client:
    """A small HTTP client with a cookie jar, through nginx."""

    def __init__(self, base, cafile=None):
        self.base = urllib.parse.urlsplit(base)
        self.origin = base
        self.cookies = {}
        self.cafile = cafile
        self.context = ssl.create_default_context(cafile=cafile) if self.base.scheme == "https" else None

    def fresh(self):
        """Another client of the same server, without cookies."""
        return Client(self.origin, cafile=self.cafile)

    def connection(self, timeout=30):
        if self.context:
            return http.client.HTTPSConnection(self.base.hostname, self.base.port, context=self.context, timeout=timeout)
        return http.client.HTTPConnection(self.base.hostname, self.base.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, json_body=None, timeout=30):
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if method not in ("GET", "HEAD"):
            headers.setdefault("Origin", self.origin)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, response.headers, data

    def json(self, method, path, expect, json_body=None, **kwargs):
        status, headers, data = self.request(method, path, json_body=json_body, **kwargs)
        check(status == expect, f"{method} {path}: {status}, expected {expect}: {data[:300]!r}")
        return json.loads(data) if data else None

    def sign_in(self, username, password):
        return self.json("POST", "/api/auth/login", 200, {"username": username, "password": password})


def make_library(root):
    """Real audio (ffmpeg) under real-world names: spaces, accents, #, %, ?, brackets, ampersands, semicolons."""
    names = [
        "Sigur Rós/Ágætis byrjun/01 Svefn-g-englar.mp3",
        "Various Artists/Now That's What I Call #1 [Disc 1]/02 100% Pure (Live & Loud).mp3",
        "Björk/Homogenic/03 Jóga; Remix?.flac",
        "AC⚡DC/Back in Black/04 You Shook Me All Night Long.mp3",
        # What browsers cannot play: transcoded by the image's ffmpeg.
        "Apple Quartet/Lossless/05 Alac Lullaby.m4a",
        "Pack Band/Wave/06 Wavpack Waltz.wv",
    ]
    files = {}
    for i, name in enumerate(names):
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        title = os.path.splitext(os.path.basename(name))[0][3:]
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency={330 + 110 * i}:duration=4",
             "-metadata", f"title={title}", "-metadata", f"artist={name.split('/')[0]}",
             "-metadata", f"album={name.split('/')[1]}", "-metadata", f"track={i + 1}",
             *(["-c:a", "alac"] if name.endswith(".m4a") else []), path],
            check=True,
        )
        files[title] = path
    return files


def upload_file(path):
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=1234:duration=3",
         "-metadata", "title=Uploaded Through nginx", "-metadata", "artist=Uploader", path],
        check=True,
    )


def multipart(path):
    boundary = uuid.uuid4().hex
    with open(path, "rb") as f:
        data = f.read()
    name = os.path.basename(path)
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        f"Content-Type: audio/mpeg\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Events(threading.Thread):
    """An open /api/events stream through nginx, collecting event names."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client = client
        self.seen = []
        self.ready = threading.Event()

    def run(self):
        conn = self.client.connection(timeout=120)
        cookie = "; ".join(f"{k}={v}" for k, v in self.client.cookies.items())
        conn.request("GET", "/api/events", headers={"Cookie": cookie, "Accept": "text/event-stream"})
        response = conn.getresponse()
        self.ready.set()
        if response.status != 200:
            self.seen.append(f"status {response.status}")
            return
        while True:
            line = response.fp.readline()
            if not line:
                return
            if line.startswith(b"event:"):
                self.seen.append(line[6:].strip().decode())

    def wait_for(self, name, seconds=60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if name in self.seen:
                return
            time.sleep(0.2)
        raise Failure(f"no `{name}` event through nginx within {seconds} s; saw {self.seen}")


def wait_ready(client, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if client.request("GET", "/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise Failure(f"{client.origin}/ready did not answer 200 within {seconds} s")


def smoke(stack, client, library, workdir, first_run):
    """The path a new user takes, through nginx."""
    if first_run:
        stack.compose("exec", "-T", "backend", "fermata", "user", "create", "--admin", ADMIN[0],
                      stdin=ADMIN[1] + "\n")
    admin = client.fresh()
    admin.sign_in(*ADMIN)
    listener = client.fresh()
    if first_run:
        listener.json("POST", "/api/users/register", 201,
                      {"username": LISTENER[0], "email": "listener@example.com", "password": LISTENER[1]})
    listener.sign_in(*LISTENER)
    check(listener.cookies, "the listener holds a session cookie")

    events = Events(admin)
    events.start()
    check(events.ready.wait(30), "the event stream opened")

    # An upload through nginx.
    song_path = os.path.join(workdir, f"upload-{uuid.uuid4().hex[:6]}.mp3")
    upload_file(song_path)
    body, content_type = multipart(song_path)
    status, _, data = admin.request("POST", "/api/music/songs", body=body, headers={"Content-Type": content_type})
    check(status in (201, 409), f"upload through nginx: {status} {data[:300]!r}")
    uploaded = json.loads(data)
    uploaded_id = uploaded["id"] if status == 201 else uploaded["song"]["id"]
    if status == 201:
        events.wait_for("upload.done")

    # The library folder, scanned and streamed.
    status, _, data = admin.request("POST", "/api/admin/scan")
    check(status in (202, 409), f"scan: {status} {data[:200]!r}")
    deadline = time.time() + 120
    while True:
        scan = admin.json("GET", "/api/admin/scan", 200)
        job = scan.get("job") or scan
        if job.get("state") in ("done", "failed") or job.get("status") in ("done", "failed"):
            break
        check(time.time() < deadline, f"the scan did not finish: {scan}")
        time.sleep(0.5)
    check("failed" not in (job.get("state"), job.get("status")), f"the scan failed: {scan}")
    events.wait_for("scan.done")

    songs = listener.json("GET", "/api/music/songs?limit=100", 200)["items"]
    by_title = {s["title"]: s for s in songs}
    for title, path in library.items():
        check(title in by_title, f"{title!r} indexed from the library folder; have {sorted(by_title)}")
        with open(path, "rb") as f:
            content = f.read()
        song_id = by_title[title]["id"]
        status, headers, data = listener.request("GET", f"/api/music/songs/{song_id}/stream",
                                                 headers={"Range": "bytes=100-1099"})
        check(status == 206, f"{title!r}: range through nginx: {status} {data[:200]!r}")
        check(data == content[100:1100], f"{title!r}: the range's bytes are the file's")
        check(headers["Content-Range"] == f"bytes 100-1099/{len(content)}", f"{title!r}: {headers['Content-Range']}")
        status, _, data = listener.request("GET", f"/api/music/songs/{song_id}/stream")
        check(status == 200 and data == content, f"{title!r}: the whole file ({status}, {len(data)} bytes)")
    # WavPack is analysed by the image's ffmpeg (symphonia cannot decode it): its peaks, then songs like it.
    wavpack = by_title["Wavpack Waltz"]["id"]
    deadline = time.time() + 120
    while True:
        status, _, data = listener.request("GET", f"/api/music/songs/{wavpack}/peaks")
        # The replica's in-memory vectors follow the analysis's write within moments.
        similar_status, _, similar = listener.request("GET", f"/api/music/songs/{wavpack}/similar?limit=5")
        if status == 200 and similar_status == 200:
            break
        check(time.time() < deadline,
              f"the WavPack song was not analysed by the image's ffmpeg: {status} {data[:200]!r} {similar[:200]!r}")
        time.sleep(0.5)
    similar = json.loads(similar)
    check(wavpack not in {s["id"] for s in similar}, f"similar songs, never the song itself: {similar}")
    status, _, data = listener.request("GET", f"/api/music/songs/{uploaded_id}/stream", headers={"Range": "bytes=0-9"})
    check(status == 206 and len(data) == 10, f"the upload streams: {status}")
    status, _, _ = client.fresh().request(
        "GET", f"/api/music/songs/{uploaded_id}/stream")
    check(status == 401, f"streaming without a session: {status}")

    # The backend image's own ffmpeg (a minimal build) reads what browsers cannot play and writes every format.
    for title in ("Alac Lullaby", "Wavpack Waltz"):
        for fmt, codec in (("opus", "opus"), ("mp3", "mp3"), ("aac", "aac")):
            status, headers, data = listener.request(
                "GET", f"/api/music/songs/{by_title[title]['id']}/stream?format={fmt}&max_bitrate=96")
            probed = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", "-"],
                                    input=data, capture_output=True).stdout.decode().strip()
            check(status == 200 and probed == codec, f"{title} as {fmt}: {status}, ffprobe says {probed!r}")

    # A transcode streamed while it is made, then a cached file nginx serves.
    url = f"/api/music/songs/{uploaded_id}/stream?format=mp3&max_bitrate=32"
    status, headers, data = listener.request("GET", url)
    check(status == 200 and headers["Content-Type"] == "audio/mpeg" and len(data) > 1000,
          f"a transcode through nginx: {status} {headers.get('Content-Type')} {len(data)} bytes")
    deadline = time.time() + 30
    while True:
        status, headers, part = listener.request("GET", url, headers={"Range": "bytes=0-99"})
        if status == 206 or time.time() > deadline:
            break
        time.sleep(0.5)
    check(status == 206 and len(part) == 100 and headers["Content-Range"].endswith(f"/{len(data)}"),
          f"the finished transcode served with ranges: {status} {headers.get('Content-Range')}")

    # A Subsonic app through nginx: an app password from the listener's settings, then /rest with it.
    created = listener.json("POST", "/api/me/subsonic-credentials", 201, {"name": "container check"})
    secret = created["secret"]
    query = f"u={LISTENER[0]}&p={secret}&c=check&v=1.16.1"
    status, _, data = client.fresh().request("GET", f"/rest/ping.view?{query}&f=json")
    check(status == 200 and json.loads(data)["subsonic-response"]["status"] == "ok", f"subsonic ping: {status} {data[:200]!r}")
    status, headers, data = client.fresh().request("GET", f"/rest/getAlbumList2?{query}&type=newest")
    check(status == 200 and b'status="ok"' in data and "xml" in headers["Content-Type"], f"subsonic XML: {data[:200]!r}")
    status, _, data = client.fresh().request("GET", f"/rest/stream?{query}&id={uploaded_id}", headers={"Range": "bytes=0-9"})
    check(status == 206 and len(data) == 10, f"subsonic stream with a range through nginx: {status}")
    status, headers, data = client.fresh().request("GET", f"/rest/stream?{query}&id={uploaded_id}&maxBitRate=48")
    check(status == 200 and headers["Content-Type"] == "audio/mpeg", f"subsonic maxBitRate: {status} {headers}")

    # Plays counted.
    first = listener.json("POST", f"/api/music/{uploaded_id}/play", 200)
    check(first["counted"], f"a play counts: {first}")
    history = listener.json("GET", "/api/me/history", 200)["items"]
    check(any(h["song"]["id"] == uploaded_id for h in history), "the play is in the listener's history")
    return admin, listener, by_title


def replica_spread(stack, client, count=60):
    """Requests through nginx, counted per replica from the replicas' own request logs."""
    marker = uuid.uuid4().hex[:8]
    for i in range(count):
        client.request("GET", f"/api/music/songs/{marker}-0000-4000-8000-{i:012d}")
    spread = []
    for cid in stack.ids("backend"):
        logs = subprocess.run(["docker", "logs", cid], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
        spread.append(sum(1 for line in logs.splitlines() if marker in line and "finished processing request" in line))
    return spread


def kill_under_load(stack, client, song_id, seconds_before=3, seconds_after=10):
    """A steady read load from several clients while one replica is killed outright: no request may fail."""
    stop = threading.Event()
    results = []
    lock = threading.Lock()
    paths = ["/api/music/songs?limit=5", f"/api/music/songs/{song_id}", "/api/music/albums?limit=5"]

    def worker(n):
        i = 0
        while not stop.is_set():
            path = paths[(n + i) % len(paths)]
            i += 1
            try:
                status = client.request("GET", path, timeout=30)[0]
            except OSError as e:
                status = f"error {e}"
            with lock:
                results.append((time.time(), path, status))
            time.sleep(0.01)  # steady, not a flood

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for n in range(4):
            pool.submit(worker, n)
        time.sleep(seconds_before)
        victim = stack.ids("backend")[0]
        killed_at = time.time()
        subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
        time.sleep(seconds_after)
        stop.set()
    before = sum(1 for t, _, _ in results if t < killed_at)
    failures = [(round(t - killed_at, 2), p, s) for t, p, s in results if s != 200]
    return before, len(results), failures


def memory(stack):
    ids = stack.compose("ps", "-q", capture=True).split()
    out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}"] + ids,
                         capture_output=True, text=True).stdout
    return dict(line.split("\t", 1) for line in out.strip().splitlines())


def image_sizes():
    sizes = {}
    for image in ("fermata/backend:latest", "fermata/nginx:latest"):
        size = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", image],
                              capture_output=True, text=True).stdout.strip()
        sizes[image] = f"{int(size) / 1e6:.0f} MB" if size else "missing"
    return sizes


def override(path, music, extra=""):
    with open(path, "w") as f:
        f.write(f"""# Written by scripts/containers.py: the library folder as MUSIC_DIR, read-only, in the backend and nginx.
services:
  backend:
    environment:
      MUSIC_DIR: /srv/music
      LOG_FORMAT: json
      # The load below comes from one address; the per-address API limit has its own tests.
      RATE_LIMIT_API_PER_SEC: "100000"
      RATE_LIMIT_API_BURST: "100000"
    volumes:
      - {json.dumps(music + ":/srv/music:ro")}
  nginx:
    volumes:
      - {json.dumps(music + ":/srv/music:ro")}
{extra}""")


@contextlib.contextmanager
def running(stack):
    """A clean start for the stack, its logs printed on any failure, and nothing of it left afterwards."""
    stack.down()
    try:
        yield
    except BaseException:
        stack.print_logs()
        raise
    finally:
        stack.down()


def timed(label, fn):
    started = time.time()
    fn()
    report[label] = round(time.time() - started, 1)
    log(f"{label}: {report[label]} s")


def default_stack(workdir, music, library):
    port = free_port()
    override(os.path.join(workdir, "check.yml"), music)
    stack = Stack([os.path.join(REPO, "docker-compose.yml"), os.path.join(workdir, "check.yml")],
                  {"FERMATA_HTTP_PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}",
                   "POSTGRES_PASSWORD": generated_password(),
                   "SUBSONIC_CREDENTIAL_KEY": base64.b64encode(os.urandom(32)).decode()})
    with running(stack):
        timed("build (cold or as cached on this machine)", lambda: stack.compose("build", "--quiet"))
        timed("build again (cached)", lambda: stack.compose("build", "--quiet"))
        report["image sizes"] = image_sizes()
        client = Client(f"http://127.0.0.1:{port}")
        timed("up to healthy (default stack)",
              lambda: (stack.compose("up", "-d", "--wait", "--wait-timeout", "180", "--quiet-pull"), wait_ready(client)))
        log("smoke path, one replica")
        _, listener, songs = smoke(stack, client, library, workdir, first_run=True)
        report["memory after the smoke path, one replica"] = memory(stack)

        log("scaled to three replicas")
        stack.compose("up", "-d", "--wait", "--wait-timeout", "180", "--scale", "backend=3", "--no-recreate")
        time.sleep(11)  # nginx re-resolves the backend name every 10 s
        smoke(stack, client, library, workdir, first_run=False)
        spread = replica_spread(stack, listener)
        report["requests per replica (60 sent)"] = spread
        check(len(spread) == 3 and sum(spread) == 60 and all(n >= 10 for n in spread),
              f"60 requests spread over three replicas: {spread}")

        song_id = next(iter(songs.values()))["id"]
        before, total, failures = kill_under_load(stack, listener, song_id)
        report["kill one of three replicas under load"] = {"requests": total, "before the kill": before,
                                                           "failed": len(failures)}
        log(f"kill test: {total} requests, {len(failures)} failed")
        check(not failures, f"requests failed after a replica was killed: {failures[:10]}")
        check(total > before + 50, f"reads kept flowing: {before} before the kill, {total} in all")
        report["memory after the kill (two replicas left)"] = memory(stack)


def production_stack(workdir, music, library):
    certs = os.path.join(workdir, "certs")
    os.makedirs(certs)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", os.path.join(certs, "privkey.pem"), "-out", os.path.join(certs, "fullchain.pem"),
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    os.chmod(os.path.join(certs, "privkey.pem"), 0o644)
    http_port, https_port = free_port(), free_port()
    override(os.path.join(workdir, "check-prod.yml"), music, extra=f"""      - {json.dumps(certs + ":/etc/nginx/certs:ro")}
""")
    stack = Stack([os.path.join(REPO, "docker-compose.yml"), os.path.join(REPO, "docker-compose.prod.yml"),
                   os.path.join(workdir, "check-prod.yml")],
                  {"FERMATA_HTTP_PORT": str(http_port), "FERMATA_HTTPS_PORT": str(https_port),
                   "PUBLIC_URL": f"https://localhost:{https_port}",
                   "POSTGRES_PASSWORD": generated_password(),
                   "SUBSONIC_CREDENTIAL_KEY": base64.b64encode(os.urandom(32)).decode()})
    with running(stack):
        client = Client(f"https://localhost:{https_port}", cafile=os.path.join(certs, "fullchain.pem"))
        timed("up to healthy (production override, three replicas)",
              lambda: (stack.compose("up", "-d", "--wait", "--wait-timeout", "180"), wait_ready(client)))
        check(len(stack.ids("backend")) == 3, "three backend replicas")
        for service in ("backend", "nginx"):
            for cid in stack.ids(service):
                inspect = json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True, text=True).stdout)
                check(inspect[0]["HostConfig"]["ReadonlyRootfs"], f"{service} runs with a read-only root")
                check(inspect[0]["HostConfig"]["Memory"] > 0, f"{service} has a memory limit")
        plain = Client(f"http://127.0.0.1:{http_port}")
        status, headers, _ = plain.request("GET", "/api/music/songs")
        # The HTTPS port published here is not 443: the redirect keeps it.
        location = headers["Location"] or ""
        check(status == 301 and location.startswith("https://") and f":{https_port}/api/music/songs" in location,
              f"HTTP redirects to HTTPS on its port: {status} {location}")
        status, headers, _ = client.request("GET", "/")
        check(status == 200 and "max-age" in (headers["Strict-Transport-Security"] or ""), "HSTS over HTTPS")
        log("smoke path over HTTPS, three replicas")
        admin, _, _ = smoke(stack, client, library, workdir, first_run=True)
        check(any(k.startswith("__Host-") for k in admin.cookies), f"__Host- cookies over HTTPS: {list(admin.cookies)}")
        report["memory after the smoke path, production"] = memory(stack)


def object_store_stack(workdir, music, library):
    """The object-storage override: Garage as the `objects` service, media in its bucket, nginx fetching audio
    with presigned URLs; the store stopped and started again under a listener."""
    port = free_port()
    override(os.path.join(workdir, "check-s3.yml"), music)
    stack = Stack([os.path.join(REPO, "docker-compose.yml"), os.path.join(REPO, "docker-compose.s3.yml"),
                   os.path.join(workdir, "check-s3.yml")],
                  {"FERMATA_HTTP_PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}",
                   "POSTGRES_PASSWORD": generated_password(),
                   "SUBSONIC_CREDENTIAL_KEY": base64.b64encode(os.urandom(32)).decode(),
                   "GARAGE_RPC_SECRET": os.urandom(32).hex(),
                   "S3_ACCESS_KEY_ID": "GK" + os.urandom(12).hex(),
                   "S3_SECRET_ACCESS_KEY": os.urandom(32).hex()})
    with running(stack):
        client = Client(f"http://127.0.0.1:{port}")
        timed("up to healthy (object storage override, Garage)",
              lambda: (stack.compose("up", "-d", "--wait", "--wait-timeout", "300"), wait_ready(client)))
        for cid in stack.ids("objects"):
            inspect = json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True, text=True).stdout)
            check(inspect[0]["HostConfig"]["Memory"] > 0, "the object store has a memory limit")
            check(inspect[0]["HostConfig"]["LogConfig"]["Config"].get("max-size") == "10m", "its logs rotate")
        log("smoke path with media in Garage")
        _, listener, _ = smoke(stack, client, library, workdir, first_run=True)

        # The upload and its transcode are objects in the bucket, and nothing of them is on the media volume.
        info = stack.compose("exec", "-T", "objects", "/garage", "bucket", "info", "fermata", capture=True)
        objects = int(next(line.split()[-1] for line in info.splitlines() if line.strip().startswith("Objects:")))
        report["objects in Garage after the smoke path"] = objects
        check(objects >= 2, f"the upload and its transcode are in the bucket: {info}")
        kept = stack.compose("exec", "-T", "backend", "find", "/srv/media", "-type", "f", capture=True).split()
        check(not kept, f"nothing but temp files on the media volume with MEDIA_STORE=s3: {kept}")

        songs = listener.json("GET", "/api/music/songs?limit=100", 200)["items"]
        uploaded = next(s for s in songs if s["title"] == "Uploaded Through nginx")
        stream = f"/api/music/songs/{uploaded['id']}/stream"
        status, headers, whole = listener.request("GET", stream)
        check(status == 200 and len(whole) > 1000, f"the upload streams from Garage: {status}")
        check(not any(h.lower().startswith("x-amz") for h in headers), f"no store headers reach the client: {headers}")
        status, headers, part = listener.request("GET", stream, headers={"Range": "bytes=10-109"})
        check(status == 206 and part == whole[10:110] and headers["Content-Range"] == f"bytes 10-109/{len(whole)}",
              f"a range from Garage through nginx: {status} {headers.get('Content-Range')}")

        # The store goes away: streams answer 503 with Retry-After (the session and catalogue still work), and
        # come back by themselves when the store does.
        stack.compose("stop", "objects")
        status, headers, _ = listener.request("GET", stream, headers={"Range": "bytes=0-9"}, timeout=60)
        check(status == 503 and headers["Retry-After"], f"the store stopped: {status} {dict(headers)}")
        check(listener.request("GET", "/api/music/songs?limit=5")[0] == 200, "the catalogue answers without the store")
        stack.compose("start", "objects")
        deadline = time.time() + 90
        while True:
            status, _, part = listener.request("GET", stream, headers={"Range": "bytes=0-9"}, timeout=60)
            if status == 206 or time.time() > deadline:
                break
            time.sleep(1)
        check(status == 206 and part == whole[:10], f"streams again once the store is back: {status}")
        report["memory after the smoke path, object storage"] = memory(stack)


def main():
    workdir = tempfile.mkdtemp(prefix="fermata-containers.")
    os.chmod(workdir, 0o755)
    try:
        music = os.path.join(workdir, "music")
        library = make_library(music)
        subprocess.run(["chmod", "-R", "a+rX", workdir], check=True)
        default_stack(workdir, music, library)
        production_stack(workdir, music, library)
        object_store_stack(workdir, music, library)
    except Failure as e:
        print(f"containers: FAILED: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        print(json.dumps(report, indent=2, ensure_ascii=False))
        if os.environ.get("CONTAINERS_REPORT"):
            with open(os.environ["CONTAINERS_REPORT"], "w") as f:
                json.dump(report, f, indent=2, ensure_ascii=False)
    log("all container checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
