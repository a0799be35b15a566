#!/usr/bin/env bash
# Backend RSS after sign-ins, with glibc's malloc left to its dynamic mmap threshold and with the fixed one the
# image, scripts/run and the benches set (MALLOC_MMAP_THRESHOLD_), side by side in one run. Each argon2 hash
# takes a 19 MiB buffer: with the dynamic threshold glibc serves it from an arena after the first free and keeps
# it resident; with a fixed 4 MiB threshold it is mapped for the hash and unmapped after.
# Needs: a release build (built if missing), the PostgreSQL server binaries, curl.
# Usage: bench/signin-rss.sh [SIGN_INS]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--one" ]; then
  sign_ins=${1:-20}
  echo "| malloc mmap threshold | idle | after 1 sign-in | after $sign_ins sign-ins, 4 at a time | 10 s later | sign-in, median of 9 one at a time |"
  echo "|---|---|---|---|---|---|"
  MALLOC_MMAP_THRESHOLD_=dynamic "$0" --one "$sign_ins" "dynamic (glibc default)"
  MALLOC_MMAP_THRESHOLD_=4194304 "$0" --one "$sign_ins" "fixed 4 MiB (as shipped)"
  exit 0
fi

sign_ins=$2
label=$3
. bench/lib.sh
export RATE_LIMIT_AUTH_BURST=100000 RATE_LIMIT_AUTH_PERIOD_SECS=1
start_backend
echo "bench-password-1" | "$bin" user create bencher --admin >/dev/null 2>&1
sign_in() {
  curl -fs -o /dev/null "$@" -H 'content-type: application/json' -d '{"username":"bencher","password":"bench-password-1"}' \
    "http://127.0.0.1:$port/api/auth/login"
}
sleep 2
idle=$(rss "$server")
sign_in
sleep 1
one=$(rss "$server")
for _ in $(seq 1 $((sign_ins / 4))); do
  batch=()
  for _ in 1 2 3 4; do sign_in & batch+=($!); done
  wait "${batch[@]}"  # not a bare wait: the backend is a child too
done
sleep 1
many=$(rss "$server")
sleep 10
later=$(rss "$server")
# The cost of mapping a fresh buffer per hash (page faults) against reusing a resident one.
median=$(for _ in $(seq 1 9); do sign_in -w '%{time_total}\n'; done | sort -n | sed -n 5p)
printf '| %s | %s MiB | %s MiB | %s MiB | %s MiB | %.0f ms |\n' "$label" "$idle" "$one" "$many" "$later" "$(awk -v s="$median" 'BEGIN {print s * 1000}')"
