#!/usr/bin/env python3
"""Writes a library of small tagged MP3 files for scan benchmarks, fast: a few real encodes (ffmpeg) are the
audio, and each file gets its own ID3v2.4 tag (title, artist, album, album artist, track, year, genre), so no two
files have the same bytes. Names come from made-up words (deterministic), spread as artists / albums / tracks,
with some accents, as a real library has, from a vocabulary of 20,000 words used with Zipf-like frequencies.

Usage: bench/gen-mp3-library.py DIR [FILES]   (default 100,000 files, ~3 KiB each)
"""

import os
import random
import subprocess
import sys
import tempfile


def syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def frame(frame_id: str, text: str) -> bytes:
    data = b"\x03" + text.encode("utf-8")  # 3: UTF-8
    return frame_id.encode("ascii") + syncsafe(len(data)) + b"\x00\x00" + data


def tag(fields: dict) -> bytes:
    body = b"".join(frame(k, v) for k, v in fields.items())
    return b"ID3\x04\x00\x00" + syncsafe(len(body)) + body


def encodes(count: int) -> list:
    """`count` short MP3 streams (distinct tones, mono 32 kb/s, no tags, no Xing header)."""
    bodies = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            out = os.path.join(tmp, f"{i}.mp3")
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency={200 + 37 * i}:duration=0.5",
                 "-ac", "1", "-ar", "22050", "-c:a", "libmp3lame", "-b:a", "32k", "-write_xing", "0",
                 "-id3v2_version", "0", "-map_metadata", "-1", out],
                check=True,
            )
            with open(out, "rb") as f:
                bodies.append(f.read())
    return bodies


def main() -> None:
    root = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    rng = random.Random(20261203)
    syllables = ["ka", "lo", "mi", "ra", "ven", "tor", "sa", "el", "dri", "mon", "qua", "zé", "ño", "bel",
                 "ith", "ar", "ost", "un", "ve", "ly", "ché", "dvo", "řák", "sym", "pho", "ny", "go", "stein"]

    def made_up() -> str:
        return "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))

    # Names share words the way natural language does: a vocabulary of 20,000 words, drawn log-uniformly (Zipf's
    # 1/rank), so a few words are everywhere and most are rare, as in a real library's titles.
    vocabulary = sorted({made_up() for _ in range(30_000)})[:20_000]
    rng.shuffle(vocabulary)

    def word() -> str:
        return vocabulary[int(len(vocabulary) ** rng.random()) - 1]

    def words(lo: int, hi: int) -> str:
        return " ".join(word().capitalize() for _ in range(rng.randint(lo, hi)))

    genres = ["Rock", "Jazz", "Classical", "Electronic", "Folk", "Hip-Hop", "Ambient", "Metal"]
    bodies = encodes(16)
    tracks_per_album = 10
    albums_per_artist = 5
    artists = max(1, files // (tracks_per_album * albums_per_artist))
    n = 0
    for a in range(artists):
        artist = words(1, 3)
        for b in range(albums_per_artist):
            album = words(1, 4)
            year = str(1960 + rng.randint(0, 64))
            genre = rng.choice(genres)
            folder = os.path.join(root, artist, f"{year} - {album}")
            os.makedirs(folder, exist_ok=True)
            for t in range(1, tracks_per_album + 1):
                if n >= files:
                    return
                title = words(1, 5)
                fields = {"TIT2": title, "TPE1": artist, "TALB": album, "TPE2": artist,
                          "TRCK": f"{t}/{tracks_per_album}", "TDRC": year, "TCON": genre}
                name = f"{t:02d} - {title}.mp3"[:200]
                with open(os.path.join(folder, name), "wb") as f:
                    f.write(tag(fields))
                    f.write(bodies[n % len(bodies)])
                n += 1
    # Whatever does not divide evenly goes in one last folder.
    folder = os.path.join(root, "Rest")
    os.makedirs(folder, exist_ok=True)
    while n < files:
        title = words(1, 5)
        with open(os.path.join(folder, f"{n:06d} - {title}.mp3"), "wb") as f:
            f.write(tag({"TIT2": title, "TPE1": "Rest", "TALB": "Rest"}))
            f.write(bodies[n % len(bodies)])
        n += 1


if __name__ == "__main__":
    main()
