#!/usr/bin/env python3
"""Real Subsonic client libraries against a running Fermata, every answer checked against the OpenSubsonic spec.

Drives a whole listener session through py-opensonic (apiKey by form POST, token auth by GET) and py-sonic
(form POST; token, then `p=enc:`): ping, browse artists -> album -> song, a full search3 sync in pages of 500 (every song
seen exactly once), cover art, a ranged stream, stars, scrobbles (play counts exact), playlists and the play
queue. The clients talk to Fermata through a proxy in this process that validates every response body against
scripts/opensubsonic/openapi (the JSON Schema of the method's answer) and, for methods that change nothing,
asks the same question in the other format and checks that XML and JSON carry the same data.

Usage: subsonic_clients.py --url http://127.0.0.1:PORT --username NAME --secret SECRET --songs N --albums N
       --artists N --real-prefix "Real "
Needs: pip install py-opensonic py-sonic jsonschema referencing
"""

import argparse
import asyncio
import faulthandler
import http.client
import http.server
import json
import pathlib
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

try:
    import jsonschema
    import libopensonic
    import libsonic
    import referencing
    import referencing.jsonschema
except ImportError as e:  # pragma: no cover - a setup problem, said plainly
    sys.exit(f"missing Python package ({e}); python3 -m pip install py-opensonic py-sonic jsonschema referencing")

SPEC = pathlib.Path(__file__).resolve().parent / "opensubsonic" / "openapi"
BINARY = {"stream", "download", "getCoverArt", "getAvatar", "getCaptions", "hls"}


class Spec:
    """The OpenSubsonic definition: the JSON Schema of each method's answer, $refs resolved across files."""

    def __init__(self, root: pathlib.Path):
        self.root = root.resolve()

        def retrieve(uri: str):
            path = pathlib.Path(urllib.parse.urlparse(uri).path)
            return referencing.Resource.from_contents(
                json.loads(path.read_text()), default_specification=referencing.jsonschema.DRAFT202012
            )

        self.registry = referencing.Registry(retrieve=retrieve)
        self.validators = {}

    def validator(self, method: str):
        if method not in self.validators:
            endpoint = self.root / "endpoints" / f"{method}.json"
            operation = json.loads(endpoint.read_text())
            answer = operation.get("get", operation.get("post"))["responses"]["200"]
            if "$ref" in answer:
                target = (endpoint.parent / answer["$ref"]).resolve()
                pointer = "#/content/application~1json/schema"
            else:
                target = endpoint
                verb = "get" if "get" in operation else "post"
                pointer = f"#/{verb}/responses/200/content/application~1json/schema"
            schema = {"$ref": target.as_uri() + pointer}
            self.validators[method] = jsonschema.Draft202012Validator(schema, registry=self.registry)
        return self.validators[method]

    def failure_validator(self):
        if "!failure" not in self.validators:
            schema = {"$ref": (self.root / "schemas" / "SubsonicResponse.json").as_uri()}
            self.validators["!failure"] = jsonschema.Draft202012Validator(schema, registry=self.registry)
        return self.validators["!failure"]


def scalar(value):
    """A value as both formats can state it: numbers as floats, booleans and the rest as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def from_json(obj) -> dict:
    """A JSON object in the protocol's mapping: scalars -> attributes, text -> value, objects/arrays -> children."""
    out = {"@": {}, "value": None, "children": {}}
    for key, value in obj.items():
        if isinstance(value, dict):
            out["children"].setdefault(key, []).append(from_json(value))
        elif isinstance(value, list):
            if value:
                out["children"][key] = [from_json(v) if isinstance(v, dict) else {"@": {}, "value": scalar(v), "children": {}} for v in value]
        elif key == "value":
            out["value"] = scalar(value)
        else:
            out["@"][key] = scalar(value)
    return out


def from_xml(element) -> dict:
    out = {"@": {k: scalar(v) for k, v in element.attrib.items()}, "value": None, "children": {}}
    text = (element.text or "").strip()
    if text or (len(element) == 0 and element.text is not None):
        out["value"] = scalar(element.text)
    for child in element:
        tag = child.tag.split("}", 1)[-1]
        out["children"].setdefault(tag, []).append(from_xml(child))
    return out


def same(a, b, path="subsonic-response") -> list:
    """Where two normalised trees differ."""
    problems = []
    if a["@"] != b["@"]:
        keys = set(a["@"]) | set(b["@"])
        for k in sorted(keys):
            if a["@"].get(k) != b["@"].get(k):
                problems.append(f"{path}/@{k}: json={a['@'].get(k)!r} xml={b['@'].get(k)!r}")
    if (a["value"] or None) != (b["value"] or None):
        problems.append(f"{path}/value: json={a['value']!r} xml={b['value']!r}")
    for key in sorted(set(a["children"]) | set(b["children"])):
        left, right = a["children"].get(key, []), b["children"].get(key, [])
        if len(left) != len(right):
            problems.append(f"{path}/{key}: json has {len(left)}, xml has {len(right)}")
            continue
        for i, (x, y) in enumerate(zip(left, right)):
            problems.extend(same(x, y, f"{path}/{key}[{i}]"))
    return problems


class Checker:
    """What the proxy saw: answers per method, and every problem found."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.lock = threading.Lock()
        self.seen = {}
        self.problems = []
        self.compared = 0

    def problem(self, text: str):
        with self.lock:
            self.problems.append(text)

    def count(self, method: str):
        with self.lock:
            self.seen[method] = self.seen.get(method, 0) + 1


def method_of(path: str) -> str:
    name = path.split("?", 1)[0].rsplit("/", 1)[-1]
    return name[: -len(".view")] if name.endswith(".view") else name


def with_format(query: str, fmt: str) -> str:
    pairs = [(k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True) if k != "f"]
    return urllib.parse.urlencode(pairs + [("f", fmt)])


def make_proxy(target: urllib.parse.ParseResult, checker: Checker):
    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def forward(self, method, path, body, headers):
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            connection.close()
            return response, data

        def handle_one(self, verb):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "accept-encoding", "content-length")}
            response, data = self.forward(verb, self.path, body, headers)
            self.check(verb, body, headers, response, data)
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.handle_one("GET")

        def do_POST(self):
            self.handle_one("POST")

        def check(self, verb, body, headers, response, data):
            method = method_of(self.path)
            checker.count(method)
            content_type = response.getheader("Content-Type", "")
            is_json = content_type.startswith("application/json")
            is_xml = "xml" in content_type
            if method in BINARY and not (is_json or is_xml):
                return
            if not (is_json or is_xml):
                checker.problem(f"{method}: answered {response.status} {content_type!r}, not XML or JSON")
                return
            try:
                tree = json.loads(data) if is_json else None
                root = None if is_json else ET.fromstring(data)
            except Exception as e:  # noqa: BLE001 - any parse failure is the finding
                checker.problem(f"{method}: unparseable {content_type} body: {e}")
                return
            if is_json:
                document = tree
            else:
                document = None
            failed = (document or {}).get("subsonic-response", {}).get("status") == "failed" if is_json else root.get("status") == "failed"
            if is_json:
                validator = checker.spec.failure_validator() if (failed or method in BINARY) else checker.spec.validator(method)
                errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
                for error in errors[:3]:
                    checker.problem(f"{method}: {'/'.join(map(str, error.path))}: {error.message[:300]}")
            # XML and JSON of the same question carry the same data (asked again only where asking changes nothing).
            if failed or not (method.startswith("get") or method.startswith("search") or method == "ping"):
                return
            if method in ("getRandomSongs",) or (method.startswith("getAlbumList") and "random" in (self.path + (body or b"").decode())):
                return
            other = "xml" if is_json else "json"
            path, _, query = self.path.partition("?")
            if verb == "POST" and body:
                other_body = with_format(body.decode(), other).encode()
                other_path = self.path
            else:
                other_body = None
                other_path = f"{path}?{with_format(query, other)}"
            other_response, other_data = self.forward(verb, other_path, other_body, headers)
            try:
                if is_json:
                    json_tree, xml_root = document, ET.fromstring(other_data)
                else:
                    json_tree, xml_root = json.loads(other_data), root
                    validator = checker.spec.validator(method)
                    for error in list(validator.iter_errors(json_tree))[:3]:
                        checker.problem(f"{method} (json of an xml call): {error.message[:300]}")
            except Exception as e:  # noqa: BLE001
                checker.problem(f"{method}: the {other} answer does not parse: {e}")
                return
            if method in ("getNowPlaying", "getIndexes", "getScanStatus"):
                # Times move between the two questions (minutesAgo, lastModified).
                return
            problems = same(from_json(json_tree["subsonic-response"]), from_xml(xml_root))
            with checker.lock:
                checker.compared += 1
            for p in problems[:5]:
                checker.problem(f"{method}: XML and JSON differ at {p}")

    return Proxy


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


async def opensonic_session(base, port, args, api_key: bool):
    """py-opensonic, JSON, mashumaro models that refuse answers missing required fields: with an apiKey by form
    POST to `<method>.view`, or with token auth by GET to `<method>`."""
    kwargs = {"api_key": args.secret} if api_key else {"username": args.username, "password": args.secret}
    conn = libopensonic.AsyncConnection(base, port=port, app_name="fermata-test", use_get=not api_key,
                                        use_views=api_key, **kwargs)
    try:
        expect(await conn.ping(), "ping")
        extensions = await conn.get_open_subsonic_extensions()
        names = {e.name for e in extensions}
        expect({"formPost", "apiKeyAuthentication", "transcodeOffset"} <= names, f"extensions: {names}")
        user = await conn.get_user(args.username)
        expect(user.username == args.username and user.stream_role, "getUser")
        if api_key:
            info = await conn.token_info()
            expect(info.username == args.username, f"tokenInfo names the key's user: {info}")

        artists = await conn.get_artists()
        everyone = [a for index in (artists.index or []) for a in (index.artist or [])]
        expect(len(everyone) == args.artists, f"getArtists lists {len(everyone)} artists, the library has {args.artists}")
        real_artist = next(a for a in everyone if a.name.startswith(args.real_prefix))
        artist = await conn.get_artist(real_artist.id)
        expect(artist.album, "the real artist has albums")
        album = await conn.get_album(artist.album[0].id)
        expect(album.song and album.song_count == len(album.song), "getAlbum songs")
        song = await conn.get_song(album.song[0].id)
        expect(song.title == album.song[0].title, "getSong")

        if args.sonic:
            await sonic_similarity(conn, album, artist)

        songs, albums, artists_seen = await sync_opensonic(conn)
        expect(len(songs) == args.songs, f"search3 sync saw {len(songs)} distinct songs of {args.songs}")
        expect(len(albums) == args.albums, f"search3 sync saw {len(albums)} albums of {args.albums}")
        expect(len(artists_seen) == args.artists, f"search3 sync saw {len(artists_seen)} artists of {args.artists}")

        cover = await conn.get_cover_art(album.cover_art, size=300)
        image = await cover.read()
        expect(image[:3] == b"\xff\xd8\xff", "getCoverArt with a size is a JPEG thumbnail")
        streamed = await conn.stream(song.id, byte_range="bytes=0-99")
        expect(streamed.status == 206 and len(await streamed.read()) == 100, f"ranged stream: {streamed.status}")
        await transcodes(conn, album)

        await conn.star(sids=[song.id], album_ids=[album.id], artist_ids=[artist.id])
        starred = await conn.get_starred2()
        expect(song.id in {s.id for s in starred.song or []}, "starred song listed")
        expect(album.id in {a.id for a in starred.album or []}, "starred album listed")
        expect(artist.id in {a.id for a in starred.artist or []}, "starred artist listed")
        await conn.unstar(sids=[song.id], album_ids=[album.id], artist_ids=[artist.id])
        starred = await conn.get_starred2()
        expect(not (starred.song or []) and not (starred.album or []), "unstarred")

        await scrobbles(conn.scrobble, lambda sid: conn.get_song(sid), song.id, lambda s: s.play_count)
        await conn.scrobble(song.id, submission=False)
        playing = await conn.get_now_playing()
        expect(any(e.id == song.id for e in playing or []), "now playing after a submission=false scrobble")

        some = sorted(songs)[:4]
        await conn.create_playlist(name="Road trip", song_ids=some[:3])
        created = next(p for p in await conn.get_playlists() if p.name == "Road trip")
        expect(created.song_count == 3, f"created playlist has {created.song_count} songs")
        await conn.update_playlist(created.id, name="Road trip 2", song_ids_to_add=[some[3]], song_indices_to_remove=[0])
        updated = await conn.get_playlist(created.id)
        expect([e.id for e in updated.entry] == some[1:4] and updated.name == "Road trip 2", "updatePlaylist")
        expect(created.id in {p.id for p in await conn.get_playlists()}, "getPlaylists lists it")
        await conn.delete_playlist(created.id)
        expect(created.id not in {p.id for p in await conn.get_playlists()}, "deleted")

        await conn.save_play_queue(some[:3], current=some[1], position=1234)
        queue = await conn.get_play_queue()
        expect([e.id for e in queue.entry] == some[:3] and queue.current == some[1] and queue.position == 1234, "play queue")

        for kind in ("newest", "alphabeticalByName", "alphabeticalByArtist", "frequent", "recent", "random", "starred", "highest"):
            await conn.get_album_list2(kind, size=50)
        await conn.get_album_list2("byYear", size=50, from_year=2020, to_year=1900)
        await conn.get_genres()
        await conn.get_random_songs(size=20)
        # Not get_music_folders: py-opensonic 10.4 reads `musicFolders` as a list, where the spec (and every
        # server) has an object holding `musicFolder`; py-sonic asks it below.
        # The scan's status is admin-only information (this session is a listener's).
        try:
            await conn.get_scan_status()
            raise AssertionError("getScanStatus answered a listener")
        except libopensonic.errors.AuthError:
            pass
        await conn.get_license()
    finally:
        await conn.cleanup() if hasattr(conn, "cleanup") else None


async def sonic_similarity(conn, album, artist):
    """getSimilarSongs(2) and the sonicSimilarity extension on analysed songs (every answer checked by the proxy)."""
    expect("sonicSimilarity" in {e.name for e in await conn.get_open_subsonic_extensions()}, "sonicSimilarity advertised")
    first, last = album.song[0].id, album.song[-1].id
    similar = await conn.get_similar_songs(first, count=3)
    expect(similar and first not in {s.id for s in similar}, f"getSimilarSongs: {similar}")
    expect(await conn.get_similar_songs2(artist.id, count=3) is not None, "getSimilarSongs2")
    matches = await conn.get_sonic_similar_tracks(first, count=3)
    expect(matches and all(0 <= m.similarity <= 1 for m in matches), f"getSonicSimilarTracks: {matches}")
    path = await conn.find_sonic_path(first, last, count=3)
    expect(path and path[0].entry.id == first and path[-1].entry.id == last, f"findSonicPath: {path}")


def probe(data: bytes) -> dict:
    """ffprobe's view of audio bytes: codec and bit rate (bit/s)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=bit_rate,duration",
                          "-of", "json", "-"], input=data, capture_output=True, check=True)
    info = json.loads(out.stdout)
    return {"codec": info["streams"][0]["codec_name"], "bit_rate": float(info["format"].get("bit_rate", 0)),
            "duration": float(info["format"].get("duration", 0))}


async def transcodes(conn, album):
    """maxBitRate honoured (MP3 by default), a format asked for, a transcode from timeOffset, and raw."""
    lossless = next((s for s in album.song if s.suffix == "flac"), None)
    expect(lossless is not None, "the real album holds a FLAC")
    capped = await conn.stream(lossless.id, max_bit_rate=96)
    data = await capped.read()
    expect(capped.status == 200 and capped.headers["Content-Type"] == "audio/mpeg", f"maxBitRate: {capped.headers}")
    heard = probe(data)
    expect(heard["codec"] == "mp3" and heard["bit_rate"] <= 96_000 * 1.1, f"maxBitRate=96 gave {heard}")
    opus = await conn.stream(lossless.id, max_bit_rate=64, tformat="opus", time_offset=1)
    heard = probe(await opus.read())
    expect(heard["codec"] == "opus", f"format=opus with timeOffset gave {heard}")
    raw = await conn.stream(lossless.id, tformat="raw", max_bit_rate=96)
    expect(raw.headers["Content-Type"] == "audio/flac", f"format=raw: {raw.headers['Content-Type']}")
    await raw.read()


async def sync_opensonic(conn):
    songs, albums, artists = [], [], []
    offset = 0
    while True:
        page = await conn.search3('""', artist_count=500, artist_offset=offset, album_count=500, album_offset=offset,
                                  song_count=500, song_offset=offset)
        songs += [s.id for s in page.song or []]
        albums += [a.id for a in page.album or []]
        artists += [a.id for a in page.artist or []]
        if max(len(page.song or []), len(page.album or []), len(page.artist or [])) < 500:
            break
        offset += 500
    for name, ids in (("song", songs), ("album", albums), ("artist", artists)):
        expect(len(ids) == len(set(ids)), f"search3 sync saw a {name} twice")
    return set(songs), set(albums), set(artists)


async def scrobbles(scrobble, get, sid, plays):
    """A play counts exactly once: the same play submitted twice (a retry) counts once, a later one again."""
    before = plays(await get(sid))
    # Both clients take Unix seconds and send milliseconds.
    at = int(time.time()) - 3600
    await scrobble(sid, submission=True, listen_time=at)
    await scrobble(sid, submission=True, listen_time=at)
    expect(plays(await get(sid)) == before + 1, f"one play counted once: {before} -> {plays(await get(sid))}")
    await scrobble(sid, submission=True, listen_time=at + 600)
    expect(plays(await get(sid)) == before + 2, "a later play counts again")


def sonic_session(base, port, args, legacy: bool):
    """py-sonic: form POST (its GET mode does not work: it calls the removed urllib2), JSON; token auth, or the
    legacy `p=enc:` hex password."""
    conn = libsonic.Connection(base, args.username, args.secret, port=port, appName="fermata-test", legacyAuth=legacy)
    expect(conn.ping(), "ping")
    if legacy:
        conn.getAlbumList2("newest", size=10)
        return
    artists = conn.getArtists()["artists"]
    everyone = [a for index in artists.get("index", []) for a in index.get("artist", [])]
    real = next(a for a in everyone if a["name"].startswith(args.real_prefix))
    album_id = conn.getArtist(real["id"])["artist"]["album"][0]["id"]
    album = conn.getAlbum(album_id)["album"]
    song_id = album["song"][0]["id"]
    seen = []
    offset = 0
    while True:
        result = conn.search3('""', artistCount=0, albumCount=0, songCount=500, songOffset=offset)["searchResult3"]
        page = result.get("song", [])
        seen += [s["id"] for s in page]
        if len(page) < 500:
            break
        offset += 500
    expect(len(seen) == len(set(seen)) == args.songs, f"py-sonic search3 sync: {len(seen)} ids, {len(set(seen))} distinct")
    cover = conn.getCoverArt(album["coverArt"], size=64)
    expect(cover.read()[:3] == b"\xff\xd8\xff", "py-sonic cover")
    conn.star(sids=[song_id])
    expect(song_id in {s["id"] for s in conn.getStarred2()["starred2"].get("song", [])}, "py-sonic star")
    conn.unstar(sids=[song_id])
    asyncio.run(scrobbles(
        lambda sid, submission, listen_time: asyncio.sleep(0, conn.scrobble(sid, submission, listen_time)),
        lambda sid: asyncio.sleep(0, conn.getSong(sid)["song"]),
        song_id,
        lambda s: s["playCount"],
    ))
    created = conn.createPlaylist(name="Sonic list", songIds=seen[:2])["playlist"]
    expect(created["songCount"] == 2, "py-sonic createPlaylist")
    # Control characters a client sends (a player name, a comment) must not break the XML of any answer: the
    # proxy asks getPlaylists and getNowPlaying again as XML and parses them.
    conn.updatePlaylist(created["id"], comment="line\x0bfeed \x01 bell\x07")
    hostile = libsonic.Connection(base, args.username, args.secret, port=port, appName="player\x01\x1f", legacyAuth=False)
    hostile.scrobble(song_id, submission=False)
    expect(any(e["id"] == song_id for e in conn.getNowPlaying()["nowPlaying"].get("entry", [])), "py-sonic now playing")
    expect(any(p["id"] == created["id"] for p in conn.getPlaylists()["playlists"]["playlist"]), "py-sonic getPlaylists")
    conn.deletePlaylist(created["id"])
    conn.savePlayQueue(seen[:2], current=seen[0], position=5)
    queue = conn.getPlayQueue()["playQueue"]
    expect([e["id"] for e in queue["entry"]] == seen[:2], "py-sonic play queue")
    conn.getIndexes()
    conn.getMusicDirectory(real["id"])
    conn.getMusicDirectory(album_id)
    conn.search2("Real")
    conn.getStarred()
    conn.getAlbumList("alphabeticalByName", size=20)
    conn.getSongsByGenre("Rock", count=10)
    conn.getNowPlaying()
    folders = conn.getMusicFolders()["musicFolders"]["musicFolder"]
    expect(len(folders) == 1, "one music folder")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--songs", type=int, required=True)
    parser.add_argument("--albums", type=int, required=True)
    parser.add_argument("--artists", type=int, required=True)
    parser.add_argument("--real-prefix", default="Real ")
    parser.add_argument("--sonic", action="store_true",
                        help="the real songs are analysed: ask for similar songs and the sonicSimilarity methods")
    parser.add_argument("--timeout", default=300, help="seconds before the run is abandoned")
    args = parser.parse_args()
    # A hung client or server is a failure with a stack trace, not a stuck test run.
    faulthandler.dump_traceback_later(int(args.timeout), exit=True)

    checker = Checker(Spec(SPEC))
    target = urllib.parse.urlparse(args.url)
    server = ThreadingServer(("127.0.0.1", 0), make_proxy(target, checker))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    base = "http://127.0.0.1"
    started = time.monotonic()
    steps = [
        ("py-opensonic, apiKey, form POST", lambda: asyncio.run(opensonic_session(base, port, args, api_key=True))),
        ("py-opensonic, token, GET", lambda: asyncio.run(opensonic_session(base, port, args, api_key=False))),
        ("py-sonic, token, form POST", lambda: sonic_session(base, port, args, legacy=False)),
        ("py-sonic, p=enc:, form POST", lambda: sonic_session(base, port, args, legacy=True)),
    ]
    failed = False
    for name, step in steps:
        try:
            step()
            print(f"ok    {name}")
        except Exception as e:  # noqa: BLE001 - report and carry on with the other clients
            failed = True
            print(f"FAIL  {name}: {type(e).__name__}: {e}")
    server.shutdown()
    total = sum(checker.seen.values())
    print(f"{total} answers from {len(checker.seen)} methods checked against the OpenSubsonic spec; "
          f"{checker.compared} compared as XML and JSON; {time.monotonic() - started:.1f} s")
    print("methods: " + ", ".join(f"{m}×{n}" for m, n in sorted(checker.seen.items())))
    for problem in checker.problems[:40]:
        print(f"PROBLEM {problem}")
    return 1 if failed or checker.problems else 0


if __name__ == "__main__":
    sys.exit(main())
