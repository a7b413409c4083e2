#!/usr/bin/env bash
# dlm bench peers with everything it needs: Debian's python3-torch (with the pthread OpenBLAS; the
# reference BLAS is ~20x slower) for the Python reference, and the llama.cpp runner (bench/Peers).
# Usage: bench/peers.sh [dlm bench peers options]   (results in bench/results/peers.{json,md,png})
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch libopenblas0-pthread
fi
export OMP_WAIT_POLICY=PASSIVE
dotnet build "$root/bench/Peers/DiffusionLM.Peers.csproj" -c Release -nologo -v q -clp:ErrorsOnly
cd "$root"
exec ./dlm bench peers "$@"
