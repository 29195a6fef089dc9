#!/usr/bin/env python3
"""The GPU check's summary (scripts/gpu_check_summary.py) on outputs shaped like a GPU machine's:
the device expectations pass on a good run and fail on a bad one, the nvidia-smi window is read
per check, and llama-bench's rows are matched to clinbench's runs. The GPU run itself is rare and
short, so its summary is checked here, where it costs nothing."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY = os.path.join(HERE, "..", "..", "scripts", "gpu_check_summary.py")
GIB = 1 << 30


def attempt(strategy, outcome, proj_dev, avail_dev, peak_dev, ngl, nl=32, withheld=None,
            reason="", alloc_dev=None, host_kv=0):
    return {"strategy": strategy, "outcome": outcome, "reason": reason,
            "allocated": None if outcome != "ok" else {
                "device": {"total": proj_dev if alloc_dev is None else alloc_dev},
                "host": {"kv": host_kv}},
            "projected": {"device": {"total": proj_dev}, "host": {"total": 1}},
            "available": {"device": avail_dev, "host": 1},
            "device_withheld_bytes": withheld, "peak_device_bytes": peak_dev,
            "peak_rss_bytes": GIB, "placement": {"n_gpu_layers": ngl, "n_layers": nl},
            "init_ms": 1000.0}


def write_case(d, good):
    chain = [
        {"check": "auto@16GiB", "exit_code": 0, "log": {
            "plan_ms": 120.0 if good else 1500.0, "accelerator": {"present": True},
            "attempts": [
            attempt("native", "skipped", 17 * GIB, 16 * GIB, None, 32),
            attempt("quantize:q8", "ok", 9 * GIB, 16 * GIB,
                    (9 if good else 17) * GIB, 32, withheld=120 * GIB)]}},
        {"check": "native@16GiB --attempt-all", "exit_code": 1, "log": {"attempts": [
            attempt("native", "failed" if good else "ok", 17 * GIB, 16 * GIB, 15 * GIB, 32,
                    withheld=120 * GIB, reason="cudaMalloc failed: out of memory")]}},
        {"check": "offload@8GiB", "exit_code": 0, "log": {"attempts": [
            attempt("offload", "ok", 7 * GIB, 8 * GIB, 7 * GIB, 14 if good else 32,
                    alloc_dev=7 * GIB if good else 8 * GIB)]}},
        # Bad: the cpu strategy used the device (op offload).
        {"check": "cpu@1GiB", "exit_code": 0, "log": {"attempts": [
            attempt("cpu", "ok", 0, GIB, 0 if good else GIB // 4, 0,
                    alloc_dev=0 if good else GIB // 4)]}},
        # Bad: llama.cpp left the first layer (its KV cache) on the host.
        {"check": "native@-", "exit_code": 0, "log": {"attempts": [
            attempt("native", "ok", 17 * GIB, 130 * GIB, 17 * GIB, 32,
                    host_kv=0 if good else GIB // 32)]}},
    ]
    json.dump(chain, open(os.path.join(d, "chain.json"), "w"))
    # Marks and nvidia-smi samples: 1 GiB used before the first check, 10 GiB at its peak.
    t0 = 1_800_000_000.0
    with open(os.path.join(d, "marks"), "w") as m:
        m.write(f"{t0 + 1} start auto@16GiB\n{t0 + 5} end auto@16GiB\n")
    import datetime
    with open(os.path.join(d, "smi.csv"), "w") as s:
        for k, used in enumerate([1024, 1024, 4096, 10240, 2048, 1024]):
            ts = datetime.datetime.fromtimestamp(t0 + k).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
            s.write(f"{ts}, {used}\n")
    # nvidia-smi's compute processes: the worker alone, or (bad) the supervisor beside it.
    with open(os.path.join(d, "smi_apps.csv"), "w") as s:
        for k in range(1, 6):
            s.write(f"{t0 + k}, 4242, 9000\n")
            if not good and k == 3:
                s.write(f"{t0 + k}, 4200, 500\n")
    bench = []
    for t, tg in (("q4_0", 200.0), ("f16", 100.0)):
        run = os.path.join(d, f"run-{t}")
        os.makedirs(run)
        with open(os.path.join(run, "samples.jsonl"), "w") as f:
            for k in range(4):  # the first item's prefill pays a one-time cost
                # f16's items say what the prompt cache kept: 20 of 100 tokens after the first.
                extra = {"prefill_tokens": 100 if k == 0 else 80} if t == "f16" else {}
                f.write(json.dumps({"prompt_tokens": 100, "prefill_ms": 100.0 if k == 0 else 50.0,
                                    "extra": extra,
                                    "output_tokens": [128], "decode_ms": 128 / 190.0 * 1000})
                        + "\n")
        for n_prompt, n_gen, n_depth, ts in ((0, 128, 100, tg), (0, 128, 0, tg * 1.1),
                                             (100, 0, 0, 4000.0)):
            bench.append({"model_filename": f"/tmp/gpu-check/model-{t}.gguf",
                          "n_prompt": n_prompt, "n_gen": n_gen, "n_depth": n_depth,
                          "avg_ts": ts, "n_gpu_layers": 99 if good else 0})
    json.dump(bench, open(os.path.join(d, "llama_bench.json"), "w"))
    # `clinbench inspect --bandwidth --json` of the q4_0 file: the CPU, then the GPU.
    json.dump({"roofline": {"weight_bytes": 4_500_000_000, "kv_bytes_per_cell": 131072,
                            "depth": 164, "devices": [
                                {"device": "CPU", "threads": 16, "best_bytes_per_s": 1e11},
                                {"device": "CUDA0", "description": "NVIDIA H100",
                                 "threads": 0, "best_bytes_per_s": 3e12}]}},
              open(os.path.join(d, "roofline-q4_0.json"), "w"))
    # Step 5-6: parallel auto's width, its items/s against llama-batched-bench, the energy. Bad:
    # the old constant width, slower than the ceiling and than one sequence, NVML far off.
    n = 64 if good else 7
    json.dump({"n_seq": n, "n_seq_bound": "device", "kv": {"layout": "split",
                                                           "chosen_by": "measured"},
               "items": 128, "mean_prompt_tokens": 100, "wall_s": 20.0, "clinbench_items_per_s": 6.4 if good else 0.9,
               "batched_bench": [{"npl": 1, "T_s": 1.0, "items_per_s": 1.0, "S_TG_tok_s": 300.0},
                                 {"npl": n, "T_s": n / 6.8, "items_per_s": 6.8,
                                  "S_TG_tok_s": 5000.0}],
               "server": {"slots": n, "wall_s": 32.0, "items": 128, "errors": 2,
                          "items_per_s": 3.94, "items_per_s_failed_counted": 4.0},
               "energy": {"clinbench_run_j": 5000.0 if good else 9000.0, "nvidia_smi_j": 5200.0,
                          "items_energy_j": 4800.0, "items_with_energy": 128},
               "loglik": {"wall_s_one_at_a_time": 10.0, "wall_s_32_together": 4.0,
                          "together_speedup": 2.5}},
              open(os.path.join(d, "batched.json"), "w"))


def run(d):
    p = subprocess.run([sys.executable, SUMMARY, "--work", d, "--out", d],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.load(open(os.path.join(d, "summary.json"))), p.stdout


def main():
    with tempfile.TemporaryDirectory() as good_dir, tempfile.TemporaryDirectory() as bad_dir:
        write_case(good_dir, True)
        good, text = run(good_dir)
        failed = [e["what"] for e in good["expectations"] if not e["pass"]]
        assert not failed, f"a good run fails: {failed}\n{text}"
        assert len(good["expectations"]) >= 10, good["expectations"]
        auto = good["chain"][0]
        assert auto["smi_peak_delta_bytes"] == (10240 - 1024) << 20, auto
        thr = {(r["type"], r["measure"].split(" vs ")[1]): r for r in good["throughput"]}
        r = thr[("q4_0", "tg128 @ depth 100")]
        assert abs(r["clinbench"] - 190.0) < 1e-6 and abs(r["ratio"] - 0.95) < 1e-6, r
        assert abs(thr[("q4_0", "pp100")]["clinbench"] - 1600.0) < 1e-6  # 400 tokens in 250 ms
        assert abs(thr[("f16", "pp100")]["clinbench"] - 1360.0) < 1e-6  # 340 evaluated in 250 ms
        assert abs(good["prefill_items"]["f16"]["median_rest_tok_s"] - 1600.0) < 1e-6
        assert good["scale"]["n_seq"] == 64, good.get("scale")
        assert "parallel auto chose 64 sequences (bound: device)" in text, text
        assert "32 together 4.0 s (2.50x)" in text, text
        assert "llama-server 64 slots" in text and "1.60x" in text, text
        # Decode as a fraction of the bandwidth ceiling: 3 TB/s over 4.5 GB of weights and
        # 128 KiB per cell, at the depth tg128 averages (100 + 64).
        limit = 3e12 / (4_500_000_000 + 164 * 131072)
        assert abs(r["ceiling_tok_s"] - limit) < 1e-6, r
        assert thr[("q4_0", "pp100")]["ceiling_tok_s"] is None
        pi = good["prefill_items"]["q4_0"]
        assert abs(pi["first_tok_s"] - 1000.0) < 1e-6 and len(pi["tok_s"]) == 4, pi
        assert abs(pi["median_rest_tok_s"] - 2000.0) < 1e-6, pi
        assert "q4_0   prefill per item: first 1000 tok/s, median of the other 3 2000 tok/s" in text, text
        assert "memory bandwidth of CUDA0 (NVIDIA H100): 3000 GB/s" in text, text
        at64 = [c for c in good["ceiling"] if c["npl"] == 64][0]
        assert abs(at64["ceiling_tok_s"] - 64 * 3e12 / (4_500_000_000 + 64 * 164 * 131072)) < 1e-6
        assert f"decode 5000 tok/s, {100 * 5000 / at64['ceiling_tok_s']:.0f}% of the CUDA0" in text, text

        write_case(bad_dir, False)
        bad, text = run(bad_dir)
        failed = {e["what"] for e in bad["expectations"] if not e["pass"]}
        for want in ("auto@16GiB: quantize:q8 peak device within the budget",
                     "native@16GiB --attempt-all: the plan's verdict holds on the device",
                     "offload@8GiB: some layers on the device, not all",
                     "offload@8GiB: offload plan equals what was allocated on the device",
                     "native on the whole card: every layer on the device",
                     "cpu@1GiB: nothing on the device",
                     "q4_0: llama-bench ran with every layer on the device",
                     "auto@16GiB: one process at a time holds device memory (a child, never "
                     "the supervisor)",
                     "auto@16GiB: plan under 1 s with the accelerator",
                     "generation at scale: parallel auto runs more than 7 sequences",
                     "generation at scale: clinbench items/s at least 0.9x llama-batched-bench "
                     "at the same N",
                     "generation at scale: N sequences beat llama-batched-bench's one",
                     "generation at scale: clinbench at least 1.2x llama-server at the same N",
                     "energy: clinbench's run energy within 20% of nvidia-smi's power "
                     "integrated"):
            assert want in failed, f"{want!r} not failed: {sorted(failed)}\n{text}"
    # Without step 5's output (a run stopped before it): said, and the rest still summarised.
    with tempfile.TemporaryDirectory() as early:
        write_case(early, True)
        os.remove(os.path.join(early, "batched.json"))
        summary, text = run(early)
        assert "no batched.json" in text, text
        assert not any(e["what"].startswith("generation at scale")
                       for e in summary["expectations"]), summary["expectations"]
    # Without the bandwidth measurement (or with a broken one): the rest as before.
    with tempfile.TemporaryDirectory() as nobw:
        write_case(nobw, True)
        open(os.path.join(nobw, "roofline-q4_0.json"), "w").write("{not json")
        summary, text = run(nobw)
        assert all(r["ceiling_tok_s"] is None for r in summary["throughput"]), summary
        assert "roofline-q4_0.json: not read" in text, text
        assert not [e for e in summary["expectations"] if not e["pass"]], summary["expectations"]
    # Broken inputs: a clear error naming the file, no traceback.
    with tempfile.TemporaryDirectory() as empty:
        p = subprocess.run([sys.executable, SUMMARY, "--work", empty, "--out", empty],
                           capture_output=True, text=True)
        assert p.returncode != 0 and "chain.json" in p.stderr and "Traceback" not in p.stderr, p
    for name, text in (("llama_bench.json", "[{not json"), ("batched.json", "{not json")):
        with tempfile.TemporaryDirectory() as broken:
            write_case(broken, True)
            open(os.path.join(broken, name), "w").write(text)
            p = subprocess.run([sys.executable, SUMMARY, "--work", broken, "--out", broken],
                               capture_output=True, text=True)
            assert p.returncode != 0 and name in p.stderr, p
            assert "Traceback" not in p.stderr, p.stderr
    print("gpu_check_summary: ok")


if __name__ == "__main__":
    main()
