#!/usr/bin/env bash
# Checks that the release build's GEMM micro-kernel runs on the host's widest vector FMAs: zmm
# registers on an AVX-512 CPU, ymm on an AVX2 one. The kernels are only fast when compiled for
# the host (Package.swift's `-target-cpu native`); built without it they run on 4-wide SSE code,
# many times slower, and every test still passes, so only the instructions tell.
# Exit status: 0 widest registers, 1 no vector FMAs (not built for the host), 3 narrower ones.
# Usage: scripts/dev/check_vector_code.sh [attn binary]   (default: .build/release/attn)
# CPU_FLAGS="avx2 fma" checks a binary built for another machine (default: this CPU's flags).
set -euo pipefail
binary=${1:-.build/release/attn}
[ -x "$binary" ] || { echo "no binary at $binary (build it: swift build -c release)"; exit 2; }
command -v objdump >/dev/null || { echo "objdump not found (apt-get install binutils)"; exit 2; }

flags=${CPU_FLAGS:-$(grep -m1 '^flags' /proc/cpuinfo || true)}
if [[ " $flags " == *" avx512f "* ]]; then
    tile=packedTile8x32 register=zmm expected=16   # 8 rows x 2 zmm accumulators
elif [[ " $flags " == *" avx2 "* && " $flags " == *" fma "* ]]; then
    tile=packedTile6x16 register=ymm expected=12   # 6 rows x 2 ymm accumulators
else
    echo "this CPU has neither AVX-512 nor AVX2 with FMA: nothing to check"
    exit 0
fi

symbol=$(nm "$binary" | awk -v tile="$tile" '!found && $3 ~ ("MicroKernelO[0-9]+" tile "[0-9]") { print $3; found = 1 }')
[ -n "$symbol" ] || { echo "no $tile function in $binary"; exit 1; }
fmas=$(objdump -d --no-show-raw-insn --disassemble="$symbol" "$binary" | grep -E 'vfmadd[0-9]+ps' || true)
total=$(grep -c . <<<"$fmas" || true)
wide=$(grep -c "%$register" <<<"$fmas" || true)
echo "$tile: $total vector FMAs, $wide on $register registers (expected $expected)"
if [ "$total" -eq 0 ]; then
    echo "no vector FMAs at all: the release build was not compiled for this CPU (-target-cpu native)"
    exit 1
fi
if [ "$wide" -lt "$expected" ]; then
    # Exit 3, not 1: the build does target a vector ISA, but the compiler chose narrower
    # registers (LLVM does so for some AVX-512 CPUs it tunes for 256-bit vectors): slower, not wrong.
    echo "the micro-kernel's FMAs are narrower than $register: up to half the speed this CPU allows"
    exit 3
fi
