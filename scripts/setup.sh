#!/usr/bin/env bash
# Installs what kvsched needs on Debian 12 (run as root, or with sudo available).
# Every dependency is a Debian package; the CUDA toolkit is optional (KVSCHED_CUDA).
set -euo pipefail
# --fuzz: also clang and its libFuzzer/sanitizer runtime, for scripts/fuzz.sh only (the main
# build uses GCC).
pkgs=(build-essential cmake catch2 libbenchmark-dev libeigen3-dev libcli11-dev
      nlohmann-json3-dev libfmt-dev libabsl-dev libcpp-httplib-dev libtomlplusplus-dev pkg-config python3 python3-dev python3-venv
      python3-matplotlib curl)
if [[ "${1:-}" == "--fuzz" ]]; then pkgs+=(clang libclang-rt-14-dev); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=""; [[ $(id -u) -eq 0 ]] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
