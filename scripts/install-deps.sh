#!/usr/bin/env bash
# Installs everything stipple needs on Debian 12: the toolchain, the libraries, redis-server,
# Chromium and the npm packages used by the tests. Idempotent; when everything is present it only
# checks and returns (well under a second).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang-format clang-tidy clang libclang-rt-14-dev
  libtorch-dev libopenblas0-openmp libopenblas-openmp-dev
  libboost1.81-dev libboost-json1.81-dev
  libsqlite3-dev sqlite3
  libhiredis-dev redis-server
  libspng-dev libjpeg-dev libwebp-dev zlib1g-dev libyaml-dev libicu-dev
  libspdlog-dev libfmt-dev libcli11-dev
  libcurl4-openssl-dev libssl-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  python3-torch python3-numpy
  chromium
  nghttp2-client python3-prometheus-client
  python3-fastapi python3-uvicorn python3-celery python3-redis
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node.js may come from elsewhere on the machine; only install Debian's when there is none.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages for the browser and external-client tests (never a downloaded browser).
if [ -f "$here/tests/package.json" ]; then
  if [ ! -d "$here/tests/node_modules" ] || [ "$here/tests/package.json" -nt "$here/tests/node_modules" ]; then
    echo "install-deps: npm install in tests/"
    (cd "$here/tests" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent)
    touch "$here/tests/node_modules"
  fi
fi
