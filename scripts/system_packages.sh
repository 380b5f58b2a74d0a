#!/usr/bin/env bash
# Debian packages behind the pictures (docs/visuals.md): graphviz (`dot`, for `googlenet diagram`) and
# chromium (headless, for benchmarks/report_screenshot.py, and for tests/test_serve.py's browser test, which drives
# it through the dev extra's playwright package with executable_path: no browser download). Installs what is
# missing when run as root with apt-get; otherwise prints the command that fixes it. Quick and silent when both
# are there.
# Exit status 0 either way: everything else in googlenet works without them (the diagram then says
# how to install graphviz), so a set-up without root still completes.
set -uo pipefail
missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  # Try without refreshing the package lists first (fast when they are recent), then with.
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
      echo "could not install ${missing[*]} with apt-get; run 'apt-get install ${missing[*]}' by hand" >&2
    fi
  fi
else
  echo "missing Debian packages: ${missing[*]} (architecture diagrams need graphviz, the report" \
       "screenshot and the serve page test chromium); install them with: sudo apt-get install ${missing[*]}" >&2
fi
exit 0
