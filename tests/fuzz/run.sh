#!/usr/bin/env bash
# Run every libFuzzer target in tests/fuzz for SECONDS each (default 30).
# Target fuzz_X_Y.c fuzzes socketify_cy/native/X_Y.c (or, when there is none,
# vendor/usockets/src/X_Y.c); its seeds are in corpus_X*/.
# Needs clang (Debian: apt-get install clang). Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-30}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
for src in tests/fuzz/fuzz_*.c; do
  name="$(basename "$src" .c)"
  unit="socketify_cy/native/${name#fuzz_}.c"
  [ -f "$unit" ] || unit="vendor/usockets/src/${name#fuzz_}.c"
  [ -f "$unit" ] || { echo "no socketify_cy/native or vendor/usockets/src unit for $src" >&2; exit 1; }
  # A target that needs more engine units names them: /* extra: utf8.c */
  extra="$(sed -n 's|^/\* extra: \(.*\) \*/$|\1|p' "$src" | head -1)"
  for e in $extra; do unit="$unit socketify_cy/native/$e"; done
  # shellcheck disable=SC2086
  clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Isocketify_cy/native -Ivendor/usockets/src $unit "$src" -o "$out/$name" -lz -lcrypto
  mkdir -p "$out/$name.corpus"
  short="${name#fuzz_}"; short="${short%%_*}"
  for seeds in tests/fuzz/corpus_"$short"*; do
    [ -d "$seeds" ] && cp -r "$seeds"/. "$out/$name.corpus/"
  done
  echo "== $name: ${seconds}s"
  if ! (cd "$out" && "./$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$name.corpus" 2>"$name.log"); then
    tail -50 "$out/$name.log" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|Done" "$out/$name.log" || true
  fi
done
exit $status
