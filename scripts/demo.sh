#!/usr/bin/env bash
# The main job on an embedded default, needing nothing outside the repository: installs and
# builds everything (scripts/setup.sh), writes a small synthetic Llama with `clinbench synth`,
# shows its facts and memory plan, loads it through the strategy chain under a host budget too
# small for its float weights (the chain falls back to a quantized load), evaluates it at both
# budgets on the demo datasets in examples/ (with a synthetic thinking model beside it, whose
# reasoning the reasoning budget cuts), and packages and verifies the run.
# The model's weights are random: its answers are noise; the pipeline is the point.
# Output goes to out/demo/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target clinbench
cb=build/clinbench
out=out/demo
mkdir -p "$out"

echo "== clinbench synth: a 4-block Llama of 512 width in f32, real SentencePiece vocabulary"
$cb synth --arch llama --layers 4 --embd 512 --ff 1536 --heads 8 --kv-heads 4 --ctx 1024 \
  --vocab llama-spm --type f32 -o "$out/demo-llama-f32.gguf"

echo; echo "== clinbench synth: a 2-block Llama with DeepSeek-R1's chat template (a thinking model)"
$cb synth --arch llama --layers 2 --embd 256 --ff 768 --heads 4 --kv-heads 2 --ctx 1024 \
  --vocab llama-spm --type f16 \
  --chat-template tests/data/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja \
  -o "$out/demo-r1-f16.gguf"

echo; echo "== clinbench inspect"
$cb inspect "$out/demo-llama-f32.gguf" --ctx 1024

budget=180MiB
echo; echo "== clinbench load --strategy auto --host-memory $budget (too small for f32)"
$cb load "$out/demo-llama-f32.gguf" --ctx 1024 --host-memory "$budget" \
  --json-out "$out/attempt-log.json"

echo; echo "== clinbench run --config examples/demo.toml (the model at full budget and at $budget)"
rm -rf "$out/run"
$cb run --config examples/demo.toml

echo; echo "== clinbench package and verify"
$cb package "$out/run" --model synthetic-llama-180MiB --dataset demo-test -o "$out/submission.zip"
$cb verify "$out/run"

echo; echo "== clinbench report: the dashboard, one self-contained HTML file"
$cb report "$out/run"
echo; echo "demo outputs in $out/: attempt-log.json, run/ (run.db, samples.jsonl, results.json,"
echo "summary.md, manifest.json, dashboard.html, figures/, attempts/), submission.zip"
