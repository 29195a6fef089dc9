#!/usr/bin/env bash
# The GPU checks of the loading chain (issue 2), in one command on a GPU machine, over the
# bundle scripts/gpu_bundle.sh made (.gpu/, carried along). Run from the repository root:
#
#   bash scripts/gpu_check.sh               on the GPU machine; results under $OUT
#   bash scripts/gpu_check.sh --cpu-dry-run here: no CUDA build, a small model, same steps, and
#                                           as the device ggml-rpc-server on 127.0.0.1 with a
#                                           256 MiB cap (the tests' capped RPC device), with
#                                           budgets set from the model's plan on it
#
# Steps (each logged with its wall time; results are written as they come, so a run stopped by
# its time limit still returns what it did):
#   1. libggml-cuda.so for sm_90 (CUDA_ARCH) built with nvcc from .gpu/ggml, put next to the
#      bundle's executables where ggml loads backends from; the flash-attention kernels are left
#      out (GPU_CHECK_FA=ON builds them) to keep the build to minutes: both tools use this
#      library, so the comparison stays like for like. Step outputs are cached in
#      $GPU_CHECK_WORK (/tmp/gpu-check), so a second call on a warm machine resumes.
#   2. a synthetic Llama-3-8B-shaped model in F16 (16 GB) and in q4_0
#   3. the loading chain on the F16 file under real device budgets: auto at 16 GiB (the paper's
#      16 GB GPU), native forced at 16 GiB (--attempt-all: does the plan's verdict hold on the
#      device?), auto at 7 GiB, offload at 8 GiB, native on the whole card; nvidia-smi samples
#      memory.used every 100 ms alongside, to check each attempt's peak_device_bytes
#   4. decode tokens/s of `clinbench run` (greedy, 128 tokens, one item at a time, all layers on
#      the GPU) against llama-bench tg128 on the same file at the items' prompt depth, q4_0 and
#      F16, and both as a fraction of the ceiling the device's memory bandwidth sets
#      (`clinbench inspect --bandwidth`, roofline-<type>.json in $GPU_CHECK_WORK)
#   5. generation at scale (issue 12): `clinbench run` of 128 items (the demo items repeated
#      under new ids), q4_0, `--parallel auto` under a 16 GiB device budget (the attempt log's
#      n_seq and n_seq_bound say how many and why), items/s against llama-batched-bench at the
#      same N and at N = 1 (per-sequence KV, the items' mean prompt, 128 tokens); written to
#      batched.json in $GPU_CHECK_WORK (summary.json carries it as "scale", so that $OUT keeps
#      to 8 files), with the energy: clinbench's NVML meters over the run and the items' sum,
#      against nvidia-smi's power.draw sampled every 100 ms and integrated (issue 16)
#      and, when the bundle has llama-server, the same items through it with N slots and N
#      requests in flight (the server's start outside the clock)
#   6. log-likelihood scoring of the same items one at a time and 32 in the same decodes
#      (`loglik_batch`, issue 12: it measured slower on CPU; does it pay on the GPU?), wall
#      times in batched.json's "loglik"
# Output ($OUT, else out/gpu-check): gpu_check.log (ends with the summary), cuda_build.log,
# summary.json, chain.json (the attempt logs), llama_bench.json, smi.csv, smi_apps.csv (device
# memory per process), samples.jsonl (the q4_0 run's items): 8 files, the most the device tool
# brings back.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DRY=0
[ "${1:-}" = "--cpu-dry-run" ] && DRY=1
B="$root/.gpu"
O="${OUT:-$root/out/gpu-check}"
W="${GPU_CHECK_WORK:-/tmp/gpu-check}"
mkdir -p "$O" "$W"
exec > >(tee -a "$O/gpu_check.log") 2>&1
step() { echo; echo "=== [${SECONDS} s] $*"; }
mark() { echo "$(date +%s.%N) $*" >> "$W/marks"; }
rm -f "$W/marks" "$O/chain.json"

if [ ! -x "$B/bin/clinbench" ] && [ -f "$B/bundle.tar.xz" ]; then
  # Python's tarfile rather than tar -J: xz may be missing there, python3 is not.
  python3 - "$B/bundle.tar.xz" "$B" <<'PY' || exit 2
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    if hasattr(tarfile, "data_filter"):
        t.extractall(sys.argv[2], filter="data")
    else:
        t.extractall(sys.argv[2])
PY
fi
if [ ! -x "$B/bin/clinbench" ]; then
  echo "gpu_check.sh: $B/bin/clinbench is missing: run scripts/gpu_bundle.sh on the build machine" >&2
  exit 2
fi
cat "$B/COMMIT"
export LD_LIBRARY_PATH="$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
CB="$B/bin/clinbench"
LB="$B/bin/llama-bench"
LBB="$B/bin/llama-batched-bench"

LB_ARGS=()  # llama-bench's device flags (the dry run's RPC server)

# 1. The CUDA backend.
if [ $DRY = 0 ]; then
  step "machine"
  nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv
  command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
  nvcc --version | tail -2
  nproc
  export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/usr/local/cuda/lib64"
  if [ -f "$B/bin/libggml-cuda.so" ]; then
    # Built on the build machine (gpu_bundle.sh --cuda) or by an earlier call: it must load
    # here, against this machine's CUDA libraries, or it is built again.
    step "the carried libggml-cuda.so: does it load here?"
    ldd "$B/bin/libggml-cuda.so" | grep -E "cuda|cublas|not found"
    "$LB" --list-devices | tee "$W/devices.txt"
    if ! grep -q CUDA "$W/devices.txt"; then
      echo "gpu_check.sh: it does not; building libggml-cuda.so here"
      rm -f "$B/bin/libggml-cuda.so"
    fi
  fi
  if [ ! -f "$B/bin/libggml-cuda.so" ]; then
    step "building libggml-cuda.so (sm_${CUDA_ARCH:-90}, flash attention ${GPU_CHECK_FA:-OFF})"
    # Its log comes back even when the call runs out of time mid-build.
    bash "$root/scripts/ggml_cuda.sh" "$B/ggml" "$W/ggml-cuda" "$O/cuda_build.log" "$B/bin" ||
      exit 1
    tail -1 "$O/cuda_build.log"
  fi
  step "backends seen by llama-bench"
  "$LB" --list-devices | tee "$W/devices.txt"
  grep -q CUDA "$W/devices.txt" || { echo "gpu_check.sh: llama-bench sees no CUDA device"; exit 1; }
  nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 100 \
    > "$O/smi.csv" &
  SMI=$!
  # Which processes hold device memory, every 200 ms: the supervisor should never be one.
  ( while :; do
      t=$(date +%s.%N)
      nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null |
        sed "s/^/$t, /"
      sleep 0.2
    done ) > "$O/smi_apps.csv" &
  APPS=$!
  trap 'kill $SMI $APPS 2>/dev/null' EXIT
  PRESET=llama3-8b
  BW_SIZE=1GiB
  VOCAB="$B/vocab/ggml-vocab-llama-bpe.gguf"
  BUDGETS=("auto 16GiB" "native 16GiB --attempt-all" "native 14GiB --attempt-all"
           "auto 7GiB --recipe $W/fast-q4.txt" "offload 8GiB" "offload 3GiB" "cpu 1GiB"
           "native -")
else
  # 8 blocks of 512 with a 32k vocabulary: about 150 MiB on the device, most of it the output
  # head and the logits' compute buffer, so that budgets between its strategies are MiB apart.
  PRESET="--arch llama --layers 8 --embd 512 --ff 1536 --heads 8 --kv-heads 4 --ctx 4096"
  BW_SIZE=64MiB  # within the RPC device's 256 MiB
  VOCAB="$B/vocab/ggml-vocab-llama-spm.gguf"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$B/bin/ggml-rpc-server" -H 127.0.0.1 -p "$port" -m 256 > "$W/rpc-server.log" 2>&1 &
  RPC=$!
  trap 'kill $RPC 2>/dev/null' EXIT
  for _ in $(seq 50); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
      "$port" 2>/dev/null && break
    sleep 0.1
  done
  export CLINBENCH_RPC_SERVERS="127.0.0.1:$port"
  LB_ARGS=(--rpc "$CLINBENCH_RPC_SERVERS")
  echo "device: ggml-rpc-server on $CLINBENCH_RPC_SERVERS, 256 MiB"
fi
# quantize:q4 with the default recipe spends minutes in q4_K/q6_K's searches on an 8B model;
# the budget check at 7 GiB needs a 4-bit load, not that recipe.
printf '%s\n' 'token_embd\.weight q8_0' 'output\.weight q8_0' '.* q4_0' > "$W/fast-q4.txt"

# 2. Models.
for t in f16 q4_0; do
  if [ ! -f "$W/model-$t.gguf" ]; then
    step "synth $PRESET $t"
    if [ $DRY = 0 ]; then
      "$CB" synth --preset $PRESET --vocab "$VOCAB" --type $t -o "$W/model-$t.gguf" || exit 1
    else
      "$CB" synth $PRESET --vocab "$VOCAB" --type $t -o "$W/model-$t.gguf" || exit 1
    fi
  fi
done
if [ $DRY = 1 ]; then
  # The GPU run's budgets in proportion: auto where native fits, native forced under its plan,
  # auto where only quantize:q4 fits, offload where some layers fit, native on the whole device.
  mapfile -t BUDGETS < <("$CB" inspect "$W/model-f16.gguf" --json --no-hash --ctx 4096 \
      --recipe "$W/fast-q4.txt" |
    python3 -c 'import json,sys
p={s["strategy"]: s["device"]["total"] >> 20 for s in json.load(sys.stdin)["plan"]["strategies"]}
native, q4 = p["native"], p["quantize:q4"]
print(f"auto {native + 8}MiB")
print(f"native {native - 8}MiB --attempt-all")
print(f"auto {q4 + 4}MiB --recipe {sys.argv[1]}")
print(f"offload {native - 24}MiB")
print("cpu 1MiB")
print("native -")' "$W/fast-q4.txt")
  printf 'budget: %s\n' "${BUDGETS[@]}"
fi

# 3. The loading chain under device budgets.
echo "[" > "$O/chain.json"
first=1
for b in "${BUDGETS[@]}"; do
  read -r strategy budget extra <<< "$b"
  name="$strategy@$budget${extra:+ ${extra%% *}}"
  step "load F16 $name"
  args=(load "$W/model-f16.gguf" --strategy "$strategy" --ctx 4096 --no-hash
        --json-out "$W/attempts.json")
  [ "$budget" != "-" ] && args+=(--device-memory "$budget")
  [ -n "$extra" ] && args+=($extra)
  mark "start $name"
  "$CB" "${args[@]}"
  rc=$?
  mark "end $name"
  echo "exit code $rc"
  [ $first = 1 ] || echo "," >> "$O/chain.json"
  first=0
  if [ -f "$W/attempts.json" ]; then
    python3 -c 'import json,sys; print(json.dumps({"check": sys.argv[1], "exit_code": int(sys.argv[2]), "log": json.load(open(sys.argv[3]))}))' \
      "$name" $rc "$W/attempts.json" >> "$O/chain.json"
    rm -f "$W/attempts.json"
  else
    echo "{\"check\": \"$name\", \"exit_code\": $rc, \"log\": null}" >> "$O/chain.json"
  fi
done
echo "]" >> "$O/chain.json"

# 4. Decode tokens/s against llama-bench on the same files.
echo "[" > "$O/llama_bench.json.tmp"
for t in q4_0 f16; do
  step "clinbench run $t: demo_val, generate 128 tokens, one item at a time"
  rm -rf "$W/run-$t"
  mark "start run $t"
  "$CB" run --model "$W/model-$t.gguf" --dataset examples/demo_val.jsonl --scoring generate \
    --max-tokens 128 --parallel 1 --strategy native --ctx 4096 --out "$W/run-$t" | tail -5
  mark "end run $t"
  [ -f "$W/run-$t/samples.jsonl" ] || { echo "no samples.jsonl for $t"; continue; }
  [ $t = q4_0 ] && cp "$W/run-$t/samples.jsonl" "$O/samples.jsonl"
  depth=$(python3 -c 'import json,sys
r=[json.loads(l) for l in open(sys.argv[1])]
print(round(sum(x["prompt_tokens"] for x in r)/len(r)))' "$W/run-$t/samples.jsonl")
  step "llama-bench $t: pp$depth, tg128 at depth 0 and $depth"
  mark "start bench $t"
  "$LB" -m "$W/model-$t.gguf" -ngl 99 -p "$depth" -n 128 -d "0,$depth" -r 3 -o json \
    "${LB_ARGS[@]}" \
    > "$W/bench-$t.json" || echo "llama-bench failed for $t"
  mark "end bench $t"
  # The bandwidth of the CPU and the device, and the decode ceiling it sets on this file at the
  # mean depth of tg128 after the prompt (DESIGN.md: each result as a fraction of that limit).
  step "clinbench inspect $t --bandwidth: the decode ceiling at depth $((depth + 64))"
  "$CB" inspect "$W/model-$t.gguf" --no-hash --json --bandwidth --bandwidth-size "$BW_SIZE" \
    --depth $((depth + 64)) > "$W/roofline-$t.json" 2> "$W/roofline-$t.err" ||
    { echo "inspect --bandwidth failed for $t:"; cat "$W/roofline-$t.err"; }
  cat "$W/bench-$t.json" >> "$O/llama_bench.json.tmp"
  [ $t = f16 ] || echo "," >> "$O/llama_bench.json.tmp"
done
echo "]" >> "$O/llama_bench.json.tmp"
python3 -c 'import json,sys; print(json.dumps([r for part in json.load(open(sys.argv[1])) for r in part], indent=1))' \
  "$O/llama_bench.json.tmp" > "$O/llama_bench.json" && rm -f "$O/llama_bench.json.tmp"

# 5. Generation at scale: parallel auto under the paper's 16 GiB, against llama-batched-bench.
step "clinbench run q4_0: 128 items, parallel auto, device budget 16GiB"
python3 - examples/demo_val.jsonl examples/demo_test.jsonl "$W/items128.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for f in sys.argv[1:3] for l in open(f) if l.strip()]
rows = [r for r in rows if r.get("question_type", "multi_choice") == "multi_choice"] or rows
with open(sys.argv[3], "w") as out:
    for i in range(128):
        r = dict(rows[i % len(rows)]); r["id"] = f"{r['id']}-{i}"
        out.write(json.dumps(r) + "\n")
PY
rm -rf "$W/run-batched"
budget=16GiB
[ $DRY = 1 ] && budget=${BUDGETS[0]#auto }
# Energy (issue 16): nvidia-smi's power draw every 100 ms beside the run, integrated here and
# set against what clinbench's NVML meter recorded for the run and gave the items.
smi_power=""
if [ $DRY = 0 ] && command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,power.draw --format=csv,noheader,nounits -lms 100 \
    > "$W/power.csv" 2>/dev/null &
  smi_power=$!
fi
# A run config of the q4_0 model in-process under the budget, on the 128 items, into $W/$1;
# the [decoding] table follows.
q4_config() {
  cat <<TOML
out = "$W/$1"
[[models]]
name = "q4_0"
path = "$W/model-q4_0.gguf"
strategy = "native"
ctx = 1024
device_memory = "$budget"
[[datasets]]
name = "items128"
path = "$W/items128.jsonl"
[decoding]
TOML
}
mark "start run batched"
start=$(date +%s.%N)
{ q4_config run-batched; printf 'max_tokens = 128\nparallel = "auto"\n'; } > "$W/batched.toml"
"$CB" run --config "$W/batched.toml" | tail -3
end=$(date +%s.%N)
mark "end run batched"
[ -n "$smi_power" ] && kill "$smi_power" 2>/dev/null
n_seq=$(python3 -c 'import json,glob,sys
for f in glob.glob(sys.argv[1] + "/attempts/*.json"):
    print(json.load(open(f)).get("n_seq", 1)); break' "$W/run-batched")
depth=$(python3 -c 'import json,sys
r=[json.loads(l) for l in open(sys.argv[1])]
print(round(sum(x["prompt_tokens"] for x in r)/len(r)))' "$W/run-batched/samples.jsonl" 2>/dev/null || echo 0)
echo "parallel auto chose n_seq=${n_seq:-?}; mean prompt $depth tokens"
for npl in 1 "${n_seq:-1}"; do
  step "llama-batched-bench q4_0: npp $depth ntg 128 npl $npl"
  "$LBB" -m "$W/model-q4_0.gguf" -ngl 99 -c $((npl * (depth + 128) + 16)) -b 2048 -ub 512 \
    -npp "$depth" -ntg 128 -npl "$npl" "${LB_ARGS[@]}" > "$W/batched-bench-$npl.txt" 2>&1 ||
    echo "llama-batched-bench failed at npl $npl"
  grep -E "^\|" "$W/batched-bench-$npl.txt" | tail -1
done
# The same items through llama-server with N slots (what users run instead; issue 12 aims at
# 1.2x it), driven by clinbench's openai backend with N requests in flight; the server's start
# is outside the clock. Skipped when the bundle has no llama-server.
server_wall=0
server_items=0
server_errors=0
if [ -x "$B/bin/llama-server" ] && [ "${n_seq:-0}" -gt 0 ]; then
  step "llama-server q4_0: $n_seq slots of 1024 cells, the same items, $n_seq in flight"
  sport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$B/bin/llama-server" -m "$W/model-q4_0.gguf" -ngl 99 -np "$n_seq" -c $((n_seq * 1024)) \
    --host 127.0.0.1 --port "$sport" --no-webui "${LB_ARGS[@]}" > "$W/llama-server.log" 2>&1 &
  SRV=$!
  python3 - "$sport" <<'PY'
import sys, time, urllib.request
for _ in range(600):
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=2).status == 200:
            break
    except Exception:
        time.sleep(0.5)
PY
  rm -rf "$W/run-server"
  cat > "$W/server.toml" <<TOML
out = "$W/run-server"
[[models]]
name = "q4_0-server"
backend = "openai"
base_url = "http://127.0.0.1:$sport/v1"
in_flight = $n_seq
[[datasets]]
name = "items128"
path = "$W/items128.jsonl"
[decoding]
max_tokens = 128
TOML
  s0=$(date +%s.%N)
  "$CB" run --config "$W/server.toml" | tail -2 || echo "the llama-server run failed"
  s1=$(date +%s.%N)
  kill $SRV 2>/dev/null; wait $SRV 2>/dev/null
  server_wall=$(python3 -c "print($s1 - $s0)")
  read -r server_items server_errors < <(python3 -c 'import json,sys
r=[json.loads(l) for l in open(sys.argv[1])]
print(len(r), sum(1 for x in r if x.get("error")))' "$W/run-server/samples.jsonl" 2>/dev/null ||
    echo "0 0")
  echo "llama-server: $server_items items ($server_errors failed) in $server_wall s"
fi
# 6. Log-likelihood items in the same decodes (issue 12): the same items scored by
#    log-likelihood (the open ones generated, 16 tokens), one at a time and 32 together, 32
#    sequences of per-sequence KV either way; the wall times go to batched.json's "loglik".
ll_times=()
for lb in 1 32; do
  step "loglik run, loglik_batch $lb"
  rm -rf "$W/run-loglik-$lb"
  { q4_config "run-loglik-$lb"; cat <<TOML
scoring = "loglik"
max_tokens = 16
parallel = 32
kv = "split"
loglik_batch = $lb
TOML
  } > "$W/loglik-$lb.toml"
  t0=$(date +%s.%N)
  "$CB" run --config "$W/loglik-$lb.toml" | tail -2 || echo "loglik run failed (loglik_batch $lb)"
  t1=$(date +%s.%N)
  ll_times+=("$(python3 -c "print($t1 - $t0)")")
done
python3 - "$W" "$start" "$end" "${n_seq:-1}" "$W/batched.json" "${ll_times[0]:-0}" \
  "${ll_times[1]:-0}" "$server_wall" "$server_items" "$server_errors" "${depth:-0}" <<'PY'
import json, re, sys
w, start, end, n, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
mean_prompt = int(sys.argv[11])
ll1, ll32 = float(sys.argv[6]), float(sys.argv[7])
sw, si, se = float(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10])
# llama-server: its items/s over completed items, and counting the ones its parser failed.
server = None if sw <= 0 else {
    "slots": n, "wall_s": sw, "items": si, "errors": se,
    "items_per_s": (si - se) / sw, "items_per_s_failed_counted": si / sw}
items = [json.loads(l) for l in open(f"{w}/run-batched/samples.jsonl")] if n else []
def peer(npl):
    try:
        rows = [l for l in open(f"{w}/batched-bench-{npl}.txt") if l.startswith("|") and re.match(r"\|\s*\d", l)]
        cols = [c.strip() for c in rows[-1].strip("|\n").split("|")]
        return {"npl": npl, "T_s": float(cols[8]), "items_per_s": npl / float(cols[8]), "S_TG_tok_s": float(cols[7])}
    except Exception as e:
        return {"npl": npl, "error": str(e)}
wall = end - start
def energy():
    # nvidia-smi's power.draw (W) every 100 ms, trapezoid-integrated over the run, against the
    # run's NVML meters (manifest run.energy) and the items' energy_j.
    e = {}
    try:
        run = json.load(open(f"{w}/run-batched/manifest.json"))["run"]["energy"] or {}
        e["clinbench_run_j"] = run.get("energy_j")
        e["clinbench_by_meter"] = run.get("by_meter")
        e["meters"] = [m.get("name") + ":" + m.get("mode", "") for m in run.get("meters", [])]
        e["unavailable"] = run.get("unavailable")
        js = [x.get("energy_j") for x in items]
        e["items_with_energy"] = sum(j is not None for j in js)
        e["items_energy_j"] = sum(j for j in js if j is not None)
    except Exception as ex:
        e["manifest_error"] = str(ex)
    try:
        import datetime
        pts = []
        for l in open(f"{w}/power.csv"):
            t, p = [c.strip() for c in l.split(",")[:2]]
            ts = datetime.datetime.strptime(t, "%Y/%m/%d %H:%M:%S.%f").timestamp()
            pts.append((ts, float(p)))
        j = sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in zip(pts, pts[1:]))
        e["nvidia_smi_j"] = j
        e["nvidia_smi_samples"] = len(pts)
        if e.get("clinbench_run_j"):
            e["clinbench_over_smi"] = e["clinbench_run_j"] / j if j > 0 else None
    except Exception as ex:
        e["nvidia_smi_error"] = str(ex)
    return e
def attempt_log():
    # What parallel = "auto" chose and why (n_seq_bound), and the KV layout of the attempt.
    import glob
    for f in glob.glob(f"{w}/run-batched/attempts/*.json"):
        log = json.load(open(f))
        ok = log.get("succeeded")
        kv = log["attempts"][ok].get("kv") if ok is not None else None
        return {"n_seq_bound": log.get("n_seq_bound"), "kv": kv}
    return {"n_seq_bound": None, "kv": None}
json.dump({"n_seq": n, **attempt_log(), "items": len(items), "mean_prompt_tokens": mean_prompt,
           "wall_s": wall,
           "clinbench_items_per_s": len(items) / wall if wall > 0 else 0,
           "batched_bench": [peer(1), peer(n)], "server": server, "energy": energy(),
           "loglik": {"wall_s_one_at_a_time": ll1, "wall_s_32_together": ll32,
                      "together_speedup": ll1 / ll32 if ll32 > 0 else None}},
          open(out, "w"), indent=1)
print(open(out).read())
PY

# Summary.
step "summary"
# The summary's text ends gpu_check.log; a copy stays in $W (the device tool brings back 8 files).
python3 "$root/scripts/gpu_check_summary.py" --work "$W" --out "$O" | tee "$W/summary.txt"
exit 0
