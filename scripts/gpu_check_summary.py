#!/usr/bin/env python3
"""Summary of scripts/gpu_check.sh: reads its outputs (chain.json, llama_bench.json, smi.csv, the
runs' samples.jsonl, batched.json and the step marks) and writes summary.json; prints a table
and one line per expectation, PASS or FAIL. Standard library only (the GPU machine has no project packages)."""
import argparse
import datetime
import json
import os
import statistics

GIB = 1 << 30


def fmt_bytes(b):
    return "-" if b is None else f"{b / GIB:.2f} GiB"


def marks(work):
    """{name: (start_epoch, end_epoch)} from the marks file ("EPOCH start|end NAME")."""
    out = {}
    path = os.path.join(work, "marks")
    if not os.path.exists(path):
        return out
    for line in open(path):
        ts, kind, name = line.rstrip("\n").split(" ", 2)
        lo, hi = out.get(name, (None, None))
        out[name] = (float(ts), hi) if kind == "start" else (lo, float(ts))
    return out


def smi_samples(path):
    """[(epoch, used_bytes)] from nvidia-smi's "YYYY/MM/DD HH:MM:SS.mmm, MiB" lines."""
    rows = []
    if not os.path.exists(path):
        return rows
    for line in open(path):
        try:
            ts, used = [x.strip() for x in line.split(",")]
            t = datetime.datetime.strptime(ts, "%Y/%m/%d %H:%M:%S.%f").timestamp()
            rows.append((t, int(used) << 20))
        except ValueError:
            continue
    return rows


def smi_apps(path):
    """{epoch: {pid: used_bytes}} from the sampler's "EPOCH, PID, MiB" lines (gpu_check.sh)."""
    out = {}
    if not os.path.exists(path):
        return out
    for line in open(path):
        try:
            ts, pid, used = [x.strip() for x in line.split(",")]
            out.setdefault(float(ts), {})[int(pid)] = int(used) << 20
        except ValueError:
            continue
    return out


def holders_in_window(apps, window):
    """Most processes holding device memory at one sample inside the window; None if no sample."""
    lo, hi = window
    if lo is None or hi is None:
        return None
    counts = [sum(1 for u in pids.values() if u > 0) for t, pids in apps.items() if lo <= t <= hi]
    return max(counts) if counts else None


def smi_window(samples, window):
    """Largest memory.used in the window minus the last sample before it."""
    lo, hi = window
    if lo is None or hi is None:
        return None
    inside = [u for t, u in samples if lo <= t <= hi]
    before = [u for t, u in samples if t < lo]
    if not inside:
        return None
    base = before[-1] if before else inside[0]
    return max(inside) - base


def roofline(work, t):
    """`clinbench inspect --bandwidth --json`'s roofline for model-<t>.gguf (step 4), or None."""
    path = os.path.join(work, f"roofline-{t}.json")
    if not os.path.exists(path):
        return None
    try:
        return json.load(open(path)).get("roofline")
    except (OSError, ValueError, AttributeError) as e:
        print(f"{path}: not read, so no bandwidth ceiling for {t} ({e})")
        return None


def ceiling(roof, n_seq, depth=None):
    """The decode ceiling (tokens/s) the fastest device's bandwidth sets at n_seq sequences
    `depth` cells deep (clinbench/bandwidth.h's roofline_tokens_per_s), and that device."""
    if not roof or not roof.get("devices"):
        return None, None
    dev = roof["devices"][-1]  # the accelerator when there is one
    depth = roof.get("depth", 0) if depth is None else depth
    step = roof.get("weight_bytes", 0) + n_seq * depth * roof.get("kv_bytes_per_cell", 0)
    bw = dev.get("best_bytes_per_s") or 0
    return (n_seq * bw / step if step and bw else None), dev


def of_ceiling(rate, limit):
    return f"{100 * rate / limit:.0f}%" if rate and limit else "-"


def scale(work, summary, expect):
    """Steps 5 and 6 (batched.json in the work directory, copied into summary.json as "scale"): generation at scale under parallel = "auto" against
    llama-batched-bench at the same width and at one sequence, the energy against nvidia-smi's,
    and log-likelihood items one at a time against 32 together."""
    path = os.path.join(work, "batched.json")
    if not os.path.exists(path):
        print("\ngeneration at scale: no batched.json (gpu_check.sh did not reach step 5)")
        return
    try:
        b = json.load(open(path))
    except ValueError as e:
        raise SystemExit(f"gpu_check_summary: {path}: {e}")
    summary["scale"] = b
    n = b.get("n_seq") or 0
    kv = b.get("kv") or {}
    print()
    print(f"generation at scale: {b.get('items', 0)} items, parallel auto chose {n} sequences "
          f"(bound: {b.get('n_seq_bound') or '-'}), KV {kv.get('layout', '-')} "
          f"({kv.get('chosen_by', '-')}), {b.get('wall_s', 0):.1f} s whole run")
    mine = b.get("clinbench_items_per_s") or 0
    peers = {p.get("npl"): p for p in b.get("batched_bench", [])}
    print(f"{'':<36} {'items/s':>10} {'clinbench':>10} {'ratio':>7}")
    for npl in sorted(peers):
        p = peers[npl]
        v = p.get("items_per_s")
        if v is None:
            print(f"llama-batched-bench npl {npl:<16} {'failed':>10}  {p.get('error', '')[:60]}")
            continue
        print(f"llama-batched-bench npl {npl:<16} {v:>10.2f} {mine:>10.2f} {mine / v:>6.2f}x")
    server = b.get("server")
    if server:
        sv = server.get("items_per_s_failed_counted") or 0
        print(f"llama-server {server.get('slots')} slots{'':<17} {sv:>10.2f} {mine:>10.2f} "
              f"{mine / sv if sv else 0:>6.2f}x  ({server.get('errors', 0)} of "
              f"{server.get('items', 0)} failed by the server, counted as done)")
        # Issue 12's aim against what users run instead.
        expect("generation at scale: clinbench at least 1.2x llama-server at the same N",
               sv and mine >= 1.2 * sv, f"{mine:.2f} against {sv:.2f} items/s")
    # Issue 12: the plan, not a constant, sets the width; the whole run (load included) against
    # the ceiling at that width; more sequences than one pay.
    expect("generation at scale: parallel auto runs more than 7 sequences", n > 7,
           f"n_seq {n}, bound {b.get('n_seq_bound')}")
    at_n = (peers.get(n) or {}).get("items_per_s")
    expect("generation at scale: clinbench items/s at least 0.9x llama-batched-bench at the same "
           "N", at_n and mine >= 0.9 * at_n,
           f"{mine:.2f} against {at_n or 0:.2f} at N = {n}")
    at_1 = (peers.get(1) or {}).get("items_per_s")
    expect("generation at scale: N sequences beat llama-batched-bench's one", at_1 and mine > at_1,
           f"{mine:.2f} against {at_1 or 0:.2f}")
    # Decode against the bandwidth ceiling at N (mean depth: the prompt and half of 128 tokens).
    roof = roofline(work, "q4_0")
    depth = (b.get("mean_prompt_tokens") or 0) + 64
    for npl in sorted(peers):
        s_tg = peers[npl].get("S_TG_tok_s")
        limit, dev = ceiling(roof, npl, depth if b.get("mean_prompt_tokens") else None)
        if s_tg and limit:
            print(f"llama-batched-bench npl {npl}: decode {s_tg:.0f} tok/s, "
                  f"{of_ceiling(s_tg, limit)} of the {dev['device']} bandwidth ceiling "
                  f"({limit:.0f} tok/s)")
            summary.setdefault("ceiling", []).append(
                {"npl": npl, "S_TG_tok_s": s_tg, "ceiling_tok_s": limit})
    e = b.get("energy") or {}
    if e.get("nvidia_smi_j") and e.get("clinbench_run_j"):
        r = e["clinbench_run_j"] / e["nvidia_smi_j"]
        print(f"energy: clinbench {e['clinbench_run_j']:.0f} J over the run, nvidia-smi "
              f"{e['nvidia_smi_j']:.0f} J ({r:.2f}x); the items' sum "
              f"{e.get('items_energy_j') or 0:.0f} J over {e.get('items_with_energy', 0)} items")
        expect("energy: clinbench's run energy within 20% of nvidia-smi's power integrated",
               0.8 <= r <= 1.2, f"{r:.2f}x")
    else:
        print(f"energy: not compared ({e.get('nvidia_smi_error') or e.get('manifest_error') or 'no meter'})")
    ll = b.get("loglik") or {}
    if ll.get("wall_s_32_together"):
        print(f"loglik: one at a time {ll['wall_s_one_at_a_time']:.1f} s, 32 together "
              f"{ll['wall_s_32_together']:.1f} s ({ll.get('together_speedup') or 0:.2f}x)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    m = marks(a.work)
    smi = smi_samples(os.path.join(a.out, "smi.csv"))
    apps = smi_apps(os.path.join(a.out, "smi_apps.csv"))
    summary = {"chain": [], "throughput": [], "expectations": []}

    def expect(what, ok, detail=""):
        summary["expectations"].append({"what": what, "pass": bool(ok), "detail": detail})

    chain_path = os.path.join(a.out, "chain.json")
    try:
        chain = json.load(open(chain_path))
    except (OSError, ValueError) as e:
        raise SystemExit(f"gpu_check_summary: {chain_path}: {e} (did gpu_check.sh reach the "
                         "loading checks? see gpu_check.log)")
    print(f"{'check':<28} {'strategy':<12} {'outcome':<8} {'proj.dev':>10} {'budget':>10} "
          f"{'withheld':>10} {'peak dev':>10} {'smi Δ':>10} {'gpu/all':>8} {'init ms':>8}")
    for c in chain:
        log = c["log"] or {}
        smi_delta = smi_window(smi, m.get(c["check"], (None, None)))
        rows = []
        for att in log.get("attempts", []):
            row = {
                "strategy": att["strategy"], "outcome": att["outcome"], "reason": att["reason"],
                "projected_device": att["projected"]["device"].get("total"),
                # ggml's buffers alone: the plan's device overhead is a reserve kept free for
                # cuBLAS and ggml-cuda's pool, which llama.cpp's breakdown does not count.
                "projected_device_buffers": att["projected"]["device"].get("total", 0)
                - att["projected"]["device"].get("overhead", 0),
                "available_device": att["available"]["device"],
                "device_withheld_bytes": att.get("device_withheld_bytes"),
                "peak_device_bytes": att.get("peak_device_bytes"),
                "peak_rss_bytes": att.get("peak_rss_bytes"),
                "n_gpu_layers": att["placement"]["n_gpu_layers"],
                "n_layers": att["placement"]["n_layers"], "init_ms": att.get("init_ms"),
                "allocated_device": (att.get("allocated") or {}).get("device", {}).get("total"),
                "allocated_host_kv": (att.get("allocated") or {}).get("host", {}).get("kv"),
            }
            rows.append(row)
            print(f"{c['check']:<28} {row['strategy']:<12} {row['outcome']:<8} "
                  f"{fmt_bytes(row['projected_device']):>10} {fmt_bytes(row['available_device']):>10} "
                  f"{fmt_bytes(row['device_withheld_bytes']):>10} "
                  f"{fmt_bytes(row['peak_device_bytes']):>10} {fmt_bytes(smi_delta):>10} "
                  f"{row['n_gpu_layers']:>3}/{row['n_layers']:<4} "
                  f"{row['init_ms'] or 0:>8.0f}")
            if row["outcome"] != "ok":
                print(f"{'':<28}   {row['reason'][:110]}")
        summary["chain"].append({"check": c["check"], "exit_code": c["exit_code"],
                                 "smi_peak_delta_bytes": smi_delta, "attempts": rows,
                                 "accelerator": log.get("accelerator")})
        ok = [r for r in rows if r["outcome"] == "ok"]
        if log.get("plan_ms") is not None and log.get("accelerator", {}).get("present"):
            # Issue 2's aim: the plan of a 9B-class file well under 1 s, here with the device's
            # extra simulation.
            expect(f"{c['check']}: plan under 1 s with the accelerator", log["plan_ms"] < 1000,
                   f"{log['plan_ms']:.0f} ms")
        holders = holders_in_window(apps, m.get(c["check"], (None, None)))
        if holders is not None:
            # The supervisor plans in a child and never opens the device: one holder at a time.
            expect(f"{c['check']}: one process at a time holds device memory (a child, never "
                   "the supervisor)", holders <= 1, f"at most {holders} at one sample")
        budgeted = "@-" not in c["check"]
        for r in ok:
            if r["allocated_device"] is not None and r["projected_device_buffers"]:
                # The plan is llama.cpp's own simulation: what it then allocates on the device
                # should be the same bytes (1% for what CUDA rounds differently).
                expect(f"{c['check']}: {r['strategy']} plan equals what was allocated on the "
                       "device", abs(r["allocated_device"] - r["projected_device_buffers"])
                       <= r["projected_device_buffers"] // 100,
                       f"allocated {fmt_bytes(r['allocated_device'])}, planned "
                       f"{fmt_bytes(r['projected_device_buffers'])}")
            if budgeted and r["peak_device_bytes"] is not None:
                expect(f"{c['check']}: {r['strategy']} peak device within the budget",
                       r["peak_device_bytes"] <= r["available_device"],
                       f"{fmt_bytes(r['peak_device_bytes'])} of {fmt_bytes(r['available_device'])}")
        if c["check"].startswith("auto@"):
            expect(f"{c['check']}: a strategy succeeded", ok,
                   ", ".join(f"{r['strategy']} {r['outcome']}" for r in rows))
        if c["check"].startswith("offload@"):
            expect(f"{c['check']}: some layers on the device, not all",
                   ok and 0 < ok[0]["n_gpu_layers"] < ok[0]["n_layers"],
                   f"{ok[0]['n_gpu_layers']}/{ok[0]['n_layers']}" if ok else "no success")
        if "--attempt-all" in c["check"] and rows:
            r = rows[0]
            planned_fit = (r["projected_device"] or 0) <= r["available_device"]
            expect(f"{c['check']}: the plan's verdict holds on the device",
                   planned_fit == (r["outcome"] == "ok"),
                   f"plan {'fits' if planned_fit else 'does not fit'}, attempt {r['outcome']}: "
                   f"{r['reason'][:80]}")
        if c["check"].startswith("cpu@") and ok:
            # Built with no device: llama.cpp's op offload would otherwise compute large batches
            # on the GPU from compute buffers of its own.
            expect(f"{c['check']}: nothing on the device",
                   ok[0]["peak_device_bytes"] == 0 and not ok[0]["allocated_device"],
                   f"peak {fmt_bytes(ok[0]['peak_device_bytes'])}, allocated "
                   f"{fmt_bytes(ok[0]['allocated_device'])}")
        if c["check"].startswith("native@-") and ok:
            expect("native on the whole card: every layer on the device",
                   ok[0]["n_gpu_layers"] == ok[0]["n_layers"] and ok[0]["n_layers"] > 0
                   and not ok[0]["allocated_host_kv"],
                   f"{ok[0]['n_gpu_layers']}/{ok[0]['n_layers']}, KV cache on the host: "
                   f"{fmt_bytes(ok[0]['allocated_host_kv'])}")

    bench_path = os.path.join(a.out, "llama_bench.json")
    try:
        bench = json.load(open(bench_path)) if os.path.exists(bench_path) else []
    except ValueError as e:
        raise SystemExit(f"gpu_check_summary: {bench_path}: {e}")
    print()
    print(f"{'type':<6} {'measure':<34} {'clinbench':>10} {'llama-bench':>12} {'ratio':>7}"
          f"  of the bandwidth ceiling: clinbench, llama-bench")
    for t in ("q4_0", "f16"):
        sp = os.path.join(a.work, f"run-{t}", "samples.jsonl")
        if not os.path.exists(sp):
            continue
        items = [json.loads(line) for line in open(sp)]
        out_tok = sum(sum(x["output_tokens"]) for x in items)
        dec_ms = sum(x["decode_ms"] for x in items)
        # The prompt tokens prefill_ms is the time of: those the prompt cache kept were not
        # evaluated (extra.prefill_tokens; older runs lack it and count the whole prompt).
        def evaluated(x):
            return (x.get("extra") or {}).get("prefill_tokens", x["prompt_tokens"])
        pr_tok = sum(evaluated(x) for x in items)
        pre_ms = sum(x["prefill_ms"] for x in items)
        depth = round(sum(x["prompt_tokens"] for x in items) / len(items))
        tg = out_tok / dec_ms * 1000 if dec_ms else None
        pp = pr_tok / pre_ms * 1000 if pre_ms else None
        fname = f"model-{t}.gguf"
        mine = [r for r in bench if os.path.basename(r.get("model_filename", "")) == fname]

        def peer(n_prompt, n_gen, n_depth):
            for r in mine:
                if (r["n_prompt"], r["n_gen"], r["n_depth"]) == (n_prompt, n_gen, n_depth):
                    return r["avg_ts"]
            return None

        # The prefill gap of the first GPU run (0.26-0.40x llama-bench): one-time costs (a
        # kernel's first launch at a new batch shape) land on the first items; the median of the
        # items after the first says whether the gap is per item or once per run.
        rates = [evaluated(x) / x["prefill_ms"] * 1000 for x in items if x.get("prefill_ms")]
        if len(rates) > 1:
            rest = rates[1:]
            med = statistics.median(rest)
            print(f"{t:<6} prefill per item: first {rates[0]:.0f} tok/s, median of the other "
                  f"{len(rest)} {med:.0f} tok/s, slowest {min(rates):.0f}, fastest {max(rates):.0f}")
            summary.setdefault("prefill_items", {})[t] = {
                "first_tok_s": rates[0], "median_rest_tok_s": med, "tok_s": rates}
        rows = [("decode tok/s vs tg128 @ depth %d" % depth, tg, peer(0, 128, depth)),
                ("decode tok/s vs tg128 @ depth 0", tg, peer(0, 128, 0)),
                ("prefill tok/s vs pp%d" % depth, pp, peer(depth, 0, 0))]
        roof = roofline(a.work, t)
        if roof and roof.get("devices"):
            dev = roof["devices"][-1]
            print(f"{t:<6} memory bandwidth of {dev['device']} ({dev.get('description', '')}): "
                  f"{(dev.get('best_bytes_per_s') or 0) / 1e9:.0f} GB/s; a decode step reads "
                  f"{fmt_bytes(roof.get('weight_bytes', 0))} of weights")
            summary.setdefault("bandwidth", {})[t] = roof
        for what, mine_v, peer_v in rows:
            ratio = mine_v / peer_v if mine_v and peer_v else None
            # Decode rows: one sequence at the depth tg128 averages (the prompt, then 64 more).
            limit = None
            if "decode" in what:
                limit, _ = ceiling(roof, 1, (depth if "@ depth 0" not in what else 0) + 64)
            summary["throughput"].append({"type": t, "measure": what, "clinbench": mine_v,
                                          "llama_bench": peer_v, "ratio": ratio,
                                          "ceiling_tok_s": limit,
                                          "items": len(items), "output_tokens": out_tok})
            print(f"{t:<6} {what:<34} {mine_v or 0:>10.1f} {peer_v or 0:>12.1f} "
                  f"{ratio or 0:>6.2f}x  {of_ceiling(mine_v, limit):>6} {of_ceiling(peer_v, limit):>6}")
        ngl = {r.get("n_gpu_layers") for r in mine}
        expect(f"{t}: llama-bench ran with every layer on the device", mine and ngl == {99},
               str(sorted(ngl)))
        expect(f"{t}: clinbench run generated tokens", out_tok > 0, f"{out_tok} tokens")

    scale(a.work, summary, expect)

    print()
    for e in summary["expectations"]:
        print(f"{'PASS' if e['pass'] else 'FAIL'}  {e['what']}  ({e['detail']})")
    json.dump(summary, open(os.path.join(a.out, "summary.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
