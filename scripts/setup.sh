#!/usr/bin/env bash
# Installs what structseq needs and nothing else: C++ libraries and tools as Debian packages
# (apt), Python packages from PyPI (pip, pinned in requirements-*.txt) into the python3 on PATH.
# Idempotent: only what is missing is installed, so a second run takes about a second.
# Works as root, or through sudo for the apt part.
#
#   scripts/setup.sh            build and test dependencies (what `make` and `make test` need)
#   scripts/setup.sh --bench    also Google Benchmark and the peers timed by bench/compare (PyTorch)
#   scripts/setup.sh --fuzz     also clang-14 and libFuzzer, for `make fuzz`
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(
    cmake g++ make pkg-config
    libeigen3-dev libopenblas-dev libopenblas0-openmp
    libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
    pybind11-dev libgtest-dev zlib1g-dev libicu-dev libsentencepiece-dev libzstd-dev
)
requirement_files=(requirements-dev.txt)

for arg in "$@"; do
    case "$arg" in
        --bench)
            apt_packages+=(libbenchmark-dev)
            requirement_files+=(requirements-bench.txt)
            ;;
        --fuzz) apt_packages+=(clang-14 libclang-rt-14-dev libomp-14-dev) ;;
        -h|--help) sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown option '$arg' (expected --bench, --fuzz or --help)" >&2; exit 2 ;;
    esac
done

missing=()
for package in "${apt_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "setup.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    echo "setup.sh: installing Debian packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=$(command -v python3) || { echo "setup.sh: python3 is not on PATH" >&2; exit 1; }
for file in "${requirement_files[@]}"; do
    # Install only when a pinned package is absent or at another version.
    if ! "$python" - "$file" <<'PY'
import sys
from importlib import metadata
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, _, version = line.partition("==")
    try:
        if metadata.version(name) != version:
            sys.exit(1)
    except metadata.PackageNotFoundError:
        sys.exit(1)
PY
    then
        echo "setup.sh: installing Python packages from $file into $python"
        "$python" -m pip install -q --disable-pip-version-check --root-user-action=ignore -r "$file"
    fi
done
