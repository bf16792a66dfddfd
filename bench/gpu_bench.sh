#!/usr/bin/env bash
# The GPU benchmarks of issue 12 in one go, meant to take under 10 minutes on one H200
# (machine start-up aside), in this order (the image table first: it is what the time is for):
#   1. vision: CIFAR-10-LT at IR 100 and IR 1000, 200 epochs of ResNet-32, `ce`, `bcl` and
#      `bscl-sor`: six `zincfluor vision train` processes at once on the one GPU, the images
#      resident on the GPU and augmented there (crop + flip; the contrastive view adds resized
#      crop, flip, colour jitter, grey), bf16 autocast (bench/gpu_vision.py); then
#      `bench/vision.py --report-only` tables them beside the paper's Table 3;
#   2. molecules: molecular training epochs/s for `ce` and `bscl-sor` (Deep4Chem, natural split,
#      resident loader; bench/epoch_speed.py);
#   3. screen: `zincfluor screen` molecules/s on the GPU with the shipped model
#      (models/emission8-default) on bench/screen.py's generated library (bench/gpu_screen.py).
# Each step gets what is left of the time budget; vision runs still going when it is nearly
# spent are stopped (their train.log shows how far they got), and the report is always written.
#
# Assumptions about the GPU machine (/work/.library/device/KINDS.md, nvidia-h200):
#   - `python3` there is CPython 3.12 with PyTorch + CUDA, torch-geometric, numpy, pandas,
#     scikit-learn, matplotlib, Pillow, typer and rich; it has no RDKit, and no network: nothing
#     is downloaded there and zincfluor is not pip-installed (it runs from this tree, PYTHONPATH).
#   - ../shared/data does not travel; the machine gets the working tree plus the `carry` paths
#     (64 MiB in all). So first, here (where the data and PyPI are), make the pack folder once:
#         bash bench/gpu_bench.sh --prepare      # -> .cache/gpu_bench (git-ignored), ~52 MiB
#     It holds CIFAR-10's JPEGs byte for byte (deflated together: 18 MiB), Deep4Chem, the
#     100,000-molecule screening library and the RDKit wheel for CPython 3.12 (bench/gpu_data.py).
#     With the screening library not yet built, --prepare takes several minutes on 2 cores.
#   - Then the device call (the `run` tool):
#         command: bash bench/gpu_bench.sh      carry: [".cache/gpu_bench"]      timeout_s: 600
#
# Everything lands in $OUT, flat (the device tool returns at most 8 files, 2 folders deep):
#   gpu_bench.log      this script's whole output (per-run wall time and images/s included)
#   summary.json       machine, settings, each step's exit code and seconds, every figure
#   benchmarks-gpu.md  the section for docs/benchmarks.md
#   vision.md          `bench/vision.py --report-only` on these runs (docs/results/vision.md)
#   gpu_bench.tar.gz   runs/<setting>/<method>/seed0/ (metrics, config, logs, plots),
#                      vision-runs/ (bench/vision.py's archive), molecules.json, screen.json,
#                      screen.md, gpu_vision.json. Back here:
#       mkdir -p runs/gpu-bench && tar xzf gpu_bench.tar.gz -C runs/gpu-bench
#       .venv/bin/python bench/vision.py --report-only --runs-dir runs/gpu-bench/runs \
#           --archive docs/results/vision-runs --results docs/results/vision.md
#
# Options: --prepare [gpu_data.py prepare options]; --tiny (the CPU smoke configuration:
# device cpu, 1 epoch, at most 8 images per class and split, 1 molecular epoch, no budget).
# Environment (defaults in brackets; --tiny changes those marked *):
#   OUT [runs/gpu_bench_out]  PYTHON [.venv/bin/python if there, else python3]
#   GPU_BENCH_PACK [.cache/gpu_bench]  GPU_BENCH_WORK [${TMPDIR:-/tmp}/gpu_bench_work]
#   GPU_BENCH_DEVICE [cuda*]  GPU_BENCH_EPOCHS [200*]  GPU_BENCH_MAX_PER_CLASS [none*]
#   GPU_BENCH_JOBS [0 = all six at once]  GPU_BENCH_MOLECULE_EPOCHS [4*]
#   GPU_BENCH_SCREEN_MOLECULES [the packed library's size]  GPU_BENCH_STEPS
#   [vision,molecules,screen]  GPU_BENCH_BUDGET_S [570*: vision runs still going when the
#   budget is nearly spent are stopped so that the report is still written; 0 = none]
#   GPU_BENCH_MPS [auto: for the vision step on CUDA, start NVIDIA's MPS daemon where it is
#   there, so that the six processes' kernels can overlap instead of taking turns; a CUDA probe
#   under it that fails within 60 s means plain time-slicing; 0: never]
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"
else PY=python3; fi
PACK="${GPU_BENCH_PACK:-$ROOT/.cache/gpu_bench}"

if [ "${1:-}" = "--prepare" ]; then
    shift
    "$PY" bench/gpu_data.py prepare --out "$PACK" "$@" || exit $?
    travel=$( { git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s \
                2>/dev/null; du -sb "$PACK" | cut -f1; } | awk '{s += $1} END {print s}')
    echo "what travels to the GPU machine: $((travel / 1048576)) MiB of the 64 MiB allowed"
    if [ "$travel" -gt $((62 * 1048576)) ]; then
        echo "WARNING: too close to the 64 MiB limit (untracked files count too)" >&2
    fi
    exit 0
fi

TINY=""
if [ "${1:-}" = "--tiny" ]; then TINY=1; shift; fi
if [ $# -gt 0 ]; then echo "unknown argument $1 (use --prepare or --tiny)" >&2; exit 2; fi
if [ -n "$TINY" ]; then
    DEVICE="${GPU_BENCH_DEVICE:-cpu}"; EPOCHS="${GPU_BENCH_EPOCHS:-1}"
    MAX_PER_CLASS="${GPU_BENCH_MAX_PER_CLASS:-8}"; MOL_EPOCHS="${GPU_BENCH_MOLECULE_EPOCHS:-1}"
    BUDGET="${GPU_BENCH_BUDGET_S:-0}"
else
    DEVICE="${GPU_BENCH_DEVICE:-cuda}"; EPOCHS="${GPU_BENCH_EPOCHS:-200}"
    MAX_PER_CLASS="${GPU_BENCH_MAX_PER_CLASS:-}"; MOL_EPOCHS="${GPU_BENCH_MOLECULE_EPOCHS:-4}"
    BUDGET="${GPU_BENCH_BUDGET_S:-570}"
fi
JOBS="${GPU_BENCH_JOBS:-0}"
STEPS=",${GPU_BENCH_STEPS:-vision,molecules,screen},"
OUT="${OUT:-$ROOT/runs/gpu_bench_out}"
WORK="${GPU_BENCH_WORK:-${TMPDIR:-/tmp}/gpu_bench_work}"
START=$(date +%s)
mkdir -p "$OUT" "$WORK"
rm -f "$WORK/steps.tsv"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

start_mps() {  # NVIDIA's MPS daemon, when asked for and it works; else plain time-slicing
    [ "$MPS" != "0" ] && [ "$DEVICE" = "cuda" ] || return 0
    if ! command -v nvidia-cuda-mps-control >/dev/null; then
        echo "MPS: nvidia-cuda-mps-control is not here; the runs share the GPU by time-slicing"
        return 0
    fi
    export CUDA_MPS_PIPE_DIRECTORY="$WORK/mps/pipe" CUDA_MPS_LOG_DIRECTORY="$WORK/mps/log"
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    if nvidia-cuda-mps-control -d && timeout 60 "$PY" -c \
        "import torch; torch.ones(1, device='cuda').sum().item()"; then
        MPS_STARTED=1; MPS_USED=1; echo "MPS: daemon started; the runs' kernels may overlap"
    else
        echo "MPS: a CUDA probe failed under it; the runs share the GPU by time-slicing"
        echo quit | nvidia-cuda-mps-control 2>/dev/null
        unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    fi
}

stop_mps() {
    [ -n "$MPS_STARTED" ] || return 0
    echo quit | nvidia-cuda-mps-control
    MPS_STARTED=""
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
}

remaining() {  # seconds of the budget left (a large number without a budget)
    if [ "$BUDGET" -gt 0 ]; then echo $((START + BUDGET - $(date +%s))); else echo 86400; fi
}

FAILED=0
MPS_STARTED=""
MPS_USED=0
MPS="${GPU_BENCH_MPS:-auto}"
now_ms() { echo $(($(date +%s%N) / 1000000)); }

step() {  # step NAME TIMEOUT_S COMMAND...: run, log, and record exit code and seconds
    local name=$1 limit=$2 began rc ms
    shift 2
    began=$(now_ms)
    echo "=== $name ($(date -u +%H:%M:%S) UTC, ${limit} s at most): $*"
    if [ "$limit" -le 0 ]; then
        echo "skipped: no time left"; rc=124
    else
        timeout --kill-after=10 "$limit" "$@"; rc=$?
    fi
    ms=$(($(now_ms) - began))
    printf '%s\t%s\t%d.%03d\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000)) >>"$WORK/steps.tsv"
    echo "=== $name: exit $rc after $((ms / 1000)) s"
    [ "$rc" -eq 0 ] || FAILED=1
    return "$rc"
}

main() {  # everything below is logged to $OUT/gpu_bench.log
    echo "gpu_bench: device $DEVICE, $EPOCHS epochs, steps ${STEPS//,/ }, budget ${BUDGET} s," \
         "pack $PACK, work $WORK, out $OUT"
    if [ ! -f "$PACK/cifar10.npz" ] || [ ! -f "$PACK/deep4chem.csv.gz" ]; then
        echo "no pack in $PACK: run 'bash bench/gpu_bench.sh --prepare' where the data are, and" \
             "carry that folder (run's carry: [\".cache/gpu_bench\"])" >&2
        exit 2
    fi

    # ------------------------------------------------------------------ environment
    if ! "$PY" -c "import rdkit" 2>/dev/null; then
        if ls "$PACK"/wheels/*.whl >/dev/null 2>&1; then
            echo "installing $(cd "$PACK/wheels" && ls) into $WORK/site (no index, no network)"
            "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
                --target "$WORK/site" "$PACK"/wheels/*.whl || exit 3
            export PYTHONPATH="$PYTHONPATH:$WORK/site"
        else
            echo "RDKit is missing and $PACK/wheels holds no wheel for it" >&2; exit 3
        fi
    fi
    "$PY" bench/gpu_data.py check-env --device "$DEVICE" || exit 3
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
        --format=csv,noheader


    # ------------------------------------------------------------------ data
    CSV="$WORK/deep4chem/DB_for_chromophore_deep4chem.csv"
    mkdir -p "$WORK/deep4chem" "$WORK/screen-cache"
    gzip -dc "$PACK/deep4chem.csv.gz" >"$CSV" || exit 4
    LIBRARY_SIZE=""
    for packed in "$PACK"/library-*.smi.gz; do
        [ -f "$packed" ] || continue
        name=$(basename "$packed" .gz)
        gzip -dc "$packed" >"$WORK/screen-cache/$name" || exit 4
        LIBRARY_SIZE="${name##*-}"; LIBRARY_SIZE="${LIBRARY_SIZE%.smi}"
    done
    SCREEN_N="${GPU_BENCH_SCREEN_MOLECULES:-${LIBRARY_SIZE:-100000}}"

    # ------------------------------------------------------------------ the steps
    REPORT_RESERVE=30  # seconds kept for the vision table, the report and the tarball
    if [[ $STEPS == *,vision,* ]]; then
        step cifar-unpack $(($(remaining) - REPORT_RESERVE)) "$PY" bench/gpu_data.py \
            unpack-cifar "$PACK/cifar10.npz" "$WORK/cifar10"
        deadline=0
        [ "$BUDGET" -gt 0 ] && deadline=$((START + BUDGET - REPORT_RESERVE))
        rm -rf "$WORK/vision"
        start_mps
        trap stop_mps EXIT
        step vision $(($(remaining) - REPORT_RESERVE + 20)) "$PY" bench/gpu_vision.py \
            --data-root "$WORK/cifar10" --out "$WORK/vision" --epochs "$EPOCHS" \
            --device "$DEVICE" --jobs "$JOBS" --deadline "$deadline" \
            ${MAX_PER_CLASS:+--max-per-class "$MAX_PER_CLASS"}
        stop_mps
        step vision-table 60 "$PY" bench/vision.py --report-only --runs-dir "$WORK/vision/runs" \
            --archive "$WORK/vision/vision-runs" --results "$OUT/vision.md" --epochs "$EPOCHS" \
            --device "$DEVICE" --data-root "$WORK/cifar10"
    fi
    if [[ $STEPS == *,molecules,* ]]; then
        step molecules $(($(remaining) - REPORT_RESERVE)) "$PY" bench/epoch_speed.py \
            --data "$CSV" --device "$DEVICE" --methods ce,bscl-sor --loaders resident \
            --epochs "$MOL_EPOCHS" --json "$WORK/molecules.json"
    fi
    if [[ $STEPS == *,screen,* ]]; then
        step screen $(($(remaining) - REPORT_RESERVE)) "$PY" bench/gpu_screen.py \
            --data "$CSV" --molecules "$SCREEN_N" --device "$DEVICE" \
            --cache-dir "$WORK/screen-cache" --out-md "$WORK/screen.md" \
            --out-json "$WORK/screen.json"
    fi

    "$PY" bench/gpu_report.py --work "$WORK" --out "$OUT" ${TINY:+--tiny} \
        --setting device="$DEVICE" --setting epochs="$EPOCHS" --setting jobs="$JOBS" \
        --setting max_per_class="$MAX_PER_CLASS" --setting molecule_epochs="$MOL_EPOCHS" \
        --setting screen_molecules="$SCREEN_N" --setting budget_s="$BUDGET" \
        --setting mps="$MPS_USED" --setting steps="${STEPS:1:-1}" \
        || FAILED=1
    echo "gpu_bench: done in $(($(date +%s) - START)) s; files in $OUT:"
    ls -l "$OUT"
    return "$FAILED"
}

main 2>&1 | tee "$OUT/gpu_bench.log"
exit "${PIPESTATUS[0]}"
