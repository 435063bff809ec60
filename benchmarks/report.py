"""Write benchmarks/RESULTS.md and benchmarks/results.png from the measurements (results.json)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1e4:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def both(a, b) -> str:
    """`jaxrl / peer` cell."""
    return f"{fmt(a)} / {fmt(b)}"


def x(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def check(value, target: float, lower_is_better: bool = False) -> str:
    if value is None:
        return "not measured"
    ok = value <= target if lower_is_better else value >= target
    return "met" if ok else "**not met**"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def targets(results: dict) -> list[list]:
    rows = []
    env = results.get("env", {}).get("rows", [])
    cart = next((r for r in env if r["env"] == "CartPole-v1" and r["num_envs"] == 1024), None)
    rows.append(["CartPole throughput at N=1024 vs gymnax", ">= 1.0x", x(cart and cart["jaxrl_vs_gymnax"]),
                 check(cart and cart["jaxrl_vs_gymnax"], 1.0)])
    if cart and cart.get("jaxrl_vs_gymnax_cpu"):
        rows.append(["... same, steps per CPU-second (less load-sensitive)", ">= 1.0x", x(cart["jaxrl_vs_gymnax_cpu"]),
                     check(cart["jaxrl_vs_gymnax_cpu"], 1.0)])
    rows.append(["CartPole throughput at N=1024 vs EnvPool", ">= 5x", x(cart and cart["jaxrl_vs_envpool"]),
                 check(cart and cart["jaxrl_vs_envpool"], 5.0)])
    for pair in results.get("ppo", {}).get("pairs", []):
        s = f"{pair['seeds']} seed{'s' if pair['seeds'] > 1 else ''}"
        rows.append([f"PPO run time vs rejax ({s})", "<= 0.75x", x(pair["run_ratio"]), check(pair["run_ratio"], 0.75, True)])
        rows.append([f"PPO compile time vs rejax ({s})", "<= 0.75x", x(pair["compile_ratio"]),
                     check(pair["compile_ratio"], 0.75, True)])
    sb3 = results.get("ppo", {}).get("sb3")
    if sb3:
        rows.append(["PPO steps/s vs Stable-Baselines3 (1 seed)", ">= 20x", x(sb3["ratio"]), check(sb3["ratio"], 20.0)])
    cli = results.get("ppo", {}).get("cli")
    if cli:
        rows.append(["`jaxrl train ppo --env CartPole-v1` wall time, cold cache", "<= 10 s", f"{cli['wall_s']:.1f} s",
                     check(cli["wall_s"], 10.0, True)])
        rows.append(["... its final eval return (mean)", ">= 475", fmt(cli["final_eval_return_mean"]),
                     check(cli["final_eval_return_mean"], 475.0)])
    warm = results.get("ppo", {}).get("cli_warm")
    if warm:
        rows.append(["... the same with a warm compile cache (time to solve)", "", f"{warm['wall_s']:.1f} s "
                     f"(return {fmt(warm['final_eval_return_mean'])})", ""])
    sweep = results.get("sweep", {}).get("sweep")
    if sweep:
        rows.append([f"{sweep['configs'] * sweep['seeds']}-member PPO sweep, one program vs rejax run by run (wall)",
                     "<= 0.5x", x(sweep["ratio"]), check(sweep["ratio"], 0.5, True)])
    for r in results.get("offpolicy", {}).get("rows", []):
        name = f"{r['algo'].upper()} ({r['env']})"
        ok_return = (r["jaxrl_final_eval_return_mean"] is not None and r["rejax_final_eval_return_mean"] is not None
                     and r["jaxrl_final_eval_return_mean"] >= r["rejax_final_eval_return_mean"])
        verdict = check(r["run_ratio"], 0.75, True)
        if verdict == "met" and not ok_return:
            verdict = "**not met** (final return below rejax's)"
        rows.append([f"{name} train time vs rejax, final return at least rejax's", "<= 0.75x",
                     f"{x(r['run_ratio'])} (return {fmt(r['jaxrl_final_eval_return_mean'])} vs "
                     f"{fmt(r['rejax_final_eval_return_mean'])})", verdict])
        rows.append([f"{name} compile time vs rejax", "<= 0.75x", x(r["compile_ratio"]),
                     check(r["compile_ratio"], 0.75, True)])
        if r.get("sb3_ratio") is not None:
            rows.append([f"{name} steps/s vs Stable-Baselines3{_sb3_settings_label(r)}", ">= 10x", x(r["sb3_ratio"]),
                         check(r["sb3_ratio"], 10.0)])
    for r in results.get("marl", {}).get("env", []):
        rows.append([f"MPE simple_spread throughput vs JaxMARL, N={r['num_envs']}", ">= 1.0x", x(r["jaxrl_vs_jaxmarl"]),
                     check(r["jaxrl_vs_jaxmarl"], 1.0)])
    return rows


def _settings_text(changed: dict) -> str:
    """`{"dueling": False}` -> `"dueling=False"`: the settings ours changed for the SB3 comparison."""
    return ", ".join(f"{k}={v}" for k, v in changed.items())


def _sb3_settings_label(r: dict) -> str:
    changed = r.get("sb3_settings")
    if not changed:
        return "" if changed is None else " (same settings)"
    return f" (ours at SB3's settings: {_settings_text(changed)})"


def _sb3_budget_note(rows: list[dict]) -> str:
    """How Stable-Baselines3's budget compares with ours (its steps/s is flattered by a shorter one)."""
    if all(r.get("sb3_total_timesteps") in (None, r["total_timesteps"]) for r in rows):
        return " Stable-Baselines3 (torch, 1 thread) runs the same budgets."
    return (" Stable-Baselines3 (torch, 1 thread) runs a shorter budget, so its warm-up (random actions, no "
            "gradient steps) is a larger share of its run: its steps/s is, if anything, flattered.")


def _sb3_settings_cell(r: dict) -> str:
    """jaxrl's steps/s in the SB3 comparison, naming what differs from the rejax-settings run."""
    changed = r.get("sb3_settings")
    if changed is None:  # measured before the SB3-settings runs existed
        return "(the rejax-settings run)"
    if not changed:
        return "same run"
    return f"{fmt(r['jaxrl_sb3_settings_steps_per_s'])} ({_settings_text(changed)})"


def offpolicy_section(off: dict) -> str:
    rows = [[f"{r['algo'].upper()} {r['env']}", f"{r['total_timesteps']:,}",
             fmt(r["jaxrl_compile_s"]), fmt(r["rejax_compile_s"]), x(r["compile_ratio"]),
             fmt(r["jaxrl_run_s"]), fmt(r["rejax_run_s"]), x(r["run_ratio"]),
             both(r["jaxrl_final_eval_return_mean"], r["rejax_final_eval_return_mean"]),
             both(r.get("jaxrl_peak_rss_mib"), r.get("rejax_peak_rss_mib"))]
            for r in off["rows"]]
    text = table(["algorithm", "steps", "jaxrl compile s", "rejax compile s", "compile ratio", "jaxrl run s",
                  "rejax run s", "run ratio", "final eval return (jaxrl / rejax)", "peak MiB (jaxrl / rejax)"], rows)
    no_sb3 = ["—"] * 4  # SB3 has no such algorithm
    text += "\n\n" + table(
        ["algorithm", "jaxrl steps/s (run only, excl. compile)", "rejax steps/s",
         "jaxrl steps/s at SB3's settings", "SB3 steps/s (steps)", "jaxrl / SB3", "SB3 peak MiB"],
        [[f"{r['algo'].upper()} {r['env']}", fmt(r["jaxrl_steps_per_s"]), fmt(r["rejax_steps_per_s"]),
          *([_sb3_settings_cell(r), f"{fmt(r['sb3_steps_per_s'])} ({r['sb3_total_timesteps']:,})",
             x(r["sb3_ratio"]), fmt(r.get("sb3_peak_rss_mib"))] if r.get("sb3_steps_per_s") else no_sb3)]
         for r in off["rows"]])
    if off.get("settings"):
        text += "\n\nSettings (ours set to rejax's; SB3 as close as it allows):\n\n" + "\n".join(
            f"- {algo.upper()}: {text_}" for algo, text_ in off["settings"].items())
    return text


def sweep_section(sweep: dict) -> str:
    s = sweep["sweep"]
    text = table(
        ["", "whole process s", "compile s", "compiles", "final eval return (mean of members)"],
        [[f"jaxrl: `jaxrl.sweep`, {s['configs']} configs x {s['seeds']} seeds in one program",
          fmt(s["jaxrl_process_s"]), fmt(s["jaxrl_compile_s"]), s["raw"]["jaxrl"][0]["num_compiles"],
          fmt(s["jaxrl_final_eval_return_mean"])],
         [f"rejax: each config jitted once, {s['configs'] * s['seeds']} runs one after another",
          fmt(s["rejax_process_s"]), fmt(s["rejax_compile_s"]), s["configs"], fmt(s["rejax_final_eval_return_mean"])],
         ["ratio (jaxrl / rejax)", x(s["ratio"]), "", "", ""]])
    text += "\n\n" + table(
        ["population (members)", "training steps/s (all members)", "per member", "compile s"],
        [[r["members"], fmt(r["steps_per_s"]), fmt(r["steps_per_s"] / r["members"]), fmt(r["compile_s"])]
         for r in sweep["scaling"]])
    if sweep.get("devices"):
        base = sweep["devices"][0]["steps_per_s"]
        text += "\n\n" + table(
            ["CPU devices (XLA virtual, 64 members)", "training steps/s", "vs 1 device"],
            [[r["cpu_devices"], fmt(r["steps_per_s"]), x(r["steps_per_s"] / base if base else None)]
             for r in sweep["devices"]])
    return text


def env_section(env: dict) -> str:
    rows = [[r["env"], r["num_envs"], r["num_steps"], fmt(r["jaxrl_steps_per_s"]), fmt(r["gymnax_steps_per_s"]),
             fmt(r["envpool_steps_per_s"]), x(r["jaxrl_vs_gymnax"]), x(r.get("jaxrl_vs_gymnax_cpu")),
             x(r["jaxrl_vs_envpool"]),
             f"{fmt(r['jaxrl_compile_s'])} / {fmt(r['gymnax_compile_s'])}"] for r in env["rows"]]
    return table(["env", "N copies", "steps/call", "jaxrl steps/s", "gymnax steps/s", "EnvPool steps/s",
                  "jaxrl / gymnax", "jaxrl / gymnax (CPU s)", "jaxrl / EnvPool", "compile s (jaxrl / gymnax)"], rows)


def ppo_section(ppo: dict) -> str:
    rows = []
    for p in ppo["pairs"]:
        rows.append([p["seeds"], fmt(p["jaxrl_compile_s"]), fmt(p["rejax_compile_s"]), x(p["compile_ratio"]),
                     fmt(p["jaxrl_run_s"]), fmt(p["rejax_run_s"]), x(p["run_ratio"]),
                     both(p["jaxrl_final_eval_return_mean"], p["rejax_final_eval_return_mean"]),
                     both(p.get("jaxrl_peak_rss_mib"), p.get("rejax_peak_rss_mib"))])
    text = table(["seeds (vmapped)", "jaxrl compile s", "rejax compile s", "compile ratio", "jaxrl run s",
                  "rejax run s", "run ratio", "final eval return (jaxrl / rejax)", "peak MiB (jaxrl / rejax)"], rows)
    if ppo.get("sb3"):
        s = ppo["sb3"]
        text += "\n\n" + table(
            ["", "steps/s (1 seed)", "ratio", "peak MiB"],
            [["jaxrl (run only, excl. compile)", fmt(s["jaxrl_steps_per_s"]), x(s["ratio"]),
              fmt(s.get("jaxrl_peak_rss_mib"))],
             [f"Stable-Baselines3 ({s['total_timesteps']:,} steps)", fmt(s["steps_per_s"]), "1.00x",
              fmt(s.get("peak_rss_mib"))]])
    cli_rows = [[f"`jaxrl train ppo --env CartPole-v1`, {cache} cache", c["reps"], f"{c['total_timesteps']:,}",
                 fmt(c["wall_s"]), fmt(c["compile_s"]), fmt(c["train_s"]), fmt(c["final_eval_return_mean"]),
                 fmt(c.get("peak_rss_mib"))]
                for cache, c in (("cold", ppo.get("cli")), ("warm", ppo.get("cli_warm"))) if c]
    if cli_rows:
        text += "\n\n" + table(["CLI (tuned defaults)", "runs", "steps", "wall s", "compile s", "train s",
                                 "final eval return", "peak MiB"], cli_rows)
    return text


def recurrent_section(rec: dict) -> str:
    rows = [[r["env"], fmt(r["mlp_steps_per_s"]), fmt(r["gru_steps_per_s"]), x(r["speed_ratio"]),
             f"{fmt(r['mlp_compile_s'])} / {fmt(r['gru_compile_s'])}",
             both(r["mlp_final_eval_return_mean"], r["gru_final_eval_return_mean"])] for r in rec["rows"]]
    text = table(["env", "MLP steps/s", "GRU steps/s", "GRU / MLP speed", "compile s (MLP / GRU)",
                  "final eval return (MLP / GRU)"], rows)
    return text + "\n\nSettings:\n\n" + "\n".join(
        f"- {env}: {_settings_text(s) if s else 'the tuned defaults of experiments/ppo.toml'}"
        for env, s in rec["settings"].items())


def minatar_section(m: dict) -> str:
    r = m["rows"]
    names = {"purejaxrl_mlp": "PureJaxRL PPO, MLP on the flattened image", "jaxrl_mlp": "jaxrl PPO, `encoder=flatten`",
             "purejaxrl_cnn": "PureJaxRL PPO + MinAtar CNN (the CNN added by us)", "jaxrl_cnn": "jaxrl PPO, `cnn=minatar`"}
    text = table(["row (1 seed)", "steps", "training steps/s", "compile s (jaxrl: warm cache)", "peak MiB"],
                 [[label, f"{r[k]['total_timesteps']:,}", fmt(r[k]["steps_per_s"]), fmt(r[k]["compile_s"]),
                   fmt(r[k]["peak_rss_mib"])] for k, label in names.items()])
    text += (f"\n\njaxrl / PureJaxRL steps/s, ratio of the medians: MLP {x(r['mlp_jaxrl_over_purejaxrl'])}, CNN "
             f"{x(r['cnn_jaxrl_over_purejaxrl'])}; median of the per-repetition ratios (each pair ran back to back): "
             f"MLP {x(r['mlp_paired_ratio_median'])} ({', '.join(f'{v:.2f}' for v in r['mlp_paired_ratios'])}), CNN "
             f"{x(r['cnn_paired_ratio_median'])} ({', '.join(f'{v:.2f}' for v in r['cnn_paired_ratios'])}). "
             f"jaxrl CNN / MLP {x(r['jaxrl_cnn_over_mlp'])}.")
    learn = m["learning"]
    stats = learn["stats"]
    rows = [[side, ", ".join(fmt(v) for v in learn[key]["final_train_return"]),
             f"{fmt(stats[key][0])} [{fmt(stats[key][1])}, {fmt(stats[key][2])}]"]
            for side, key in (("PureJaxRL", "purejaxrl_mlp"), ("jaxrl", "jaxrl_mlp"))]
    p = stats["p_jaxrl_better"]
    text += (f"\n\nLearning check, MLP, {learn['seeds']} seeds x {learn['total_timesteps']:,} steps in one program per "
             "side: mean return of the training episodes that ended in the last 10% of updates; mean over seeds "
             "with a 95% stratified-bootstrap interval (`jaxrl.stats`).\n\n"
             + table(["side", "per seed", "mean [95% CI]"], rows)
             + f"\n\nP(jaxrl > PureJaxRL) = {fmt(p[0])} [{fmt(p[1])}, {fmt(p[2])}]"
             + (": the interval contains 0.5, no evidence that either learns better." if p[1] <= 0.5 <= p[2] else "."))
    if m.get("tuning"):
        t = m["tuning"]
        text += (f"\n\nMLP steps/s with jaxrl's backend tunings (`jaxrl.backend`) off, {t['reps']} alternating "
                 f"repetitions, {t['total_timesteps']:,} steps (medians): PureJaxRL {fmt(t['steps_per_s']['purejaxrl_mlp'])}, "
                 f"jaxrl {fmt(t['steps_per_s']['jaxrl_mlp'])}, jaxrl with `JAXRL_TUNING=none` "
                 f"{fmt(t['steps_per_s']['jaxrl_mlp_untuned'])}. Medians of the per-repetition ratios: jaxrl / PureJaxRL "
                 f"{x(t['tuned_over_purejaxrl'])}, untuned jaxrl / PureJaxRL {x(t['untuned_over_purejaxrl'])}, "
                 f"tunings on / off {x(t['tuned_over_untuned'])}.")
    return text + "\n\nSettings (PureJaxRL's examples/brax_minatar.ipynb): " + _settings_text(m["settings"])


def marl_section(m: dict) -> str:
    text = table(["env", "N copies", "jaxrl steps/s", "JaxMARL steps/s", "jaxrl / JaxMARL", "compile s (jaxrl / JaxMARL)"],
                 [[r["env"], r["num_envs"], fmt(r["jaxrl_steps_per_s"]), fmt(r["jaxmarl_steps_per_s"]),
                   x(r["jaxrl_vs_jaxmarl"]), f"{fmt(r['jaxrl_compile_s'])} / {fmt(r['jaxmarl_compile_s'])}"]
                  for r in m["env"]])
    text += "\n\n" + table(["training (1 seed)", "steps", "env steps/s", "compile s", "final eval return (team)",
                              "peak MiB"],
                             [[r["algo"], f"{r['total_timesteps']:,}", fmt(r["steps_per_s"]), fmt(r["compile_s"]),
                               fmt(r["final_eval_return_mean"]), fmt(r["peak_rss_mib"])] for r in m["training"]])
    return text + "\n\nTraining settings (JaxMARL's IPPO on MPE): " + _settings_text(m["settings"])


def machine_table(m: dict) -> str:
    return table(["", ""], [
        ["CPU", f"{m['cpu']}, {m['cores']} cores"], ["memory", f"{m['memory_gib']} GiB"],
        *([["accelerator", m["accelerator"]]] if m.get("accelerator") else []),
        ["load average at start / end (1, 5, 15 min)", ", ".join(str(v) for v in m["load_average"]) + " / "
         + ", ".join(str(v) for v in m.get("load_average_end", []))],
        ["OS", m["os"]], ["Python", m["python"]], ["JAX backend", f"{m['jax_backend']} {m['jax_devices']}"],
        ["ours", ", ".join(f"{k} {v}" for k, v in m["versions"].items())],
        ["jaxrl commit at start / end", f"{m['git_commit']} / {m.get('git_commit_end', '-')}"],
    ])


def sections(results: dict, h: str) -> list[str]:
    """The measured sections of one backend's results, with headings of level `h` ("##", "###")."""
    lines = []
    if "env" in results:
        e = results["env"]
        envpool = any(r.get("envpool_steps_per_s") for r in e["rows"])
        lines += [f"{h} Environment throughput (random actions)", "",
                  f"Mode `{e['mode']}`, {e['reps']} repetitions, {e['date']}{_cpu(e)}. jaxrl and gymnax: N copies vmapped "
                  "in a jitted `lax.scan` in this process (compile timed once per cell)"
                  + ("; EnvPool: `num_threads = min(cores, N)`, `batch_size = N`." if envpool else "."), "",
                  env_section(e), ""]
    if "ppo" in results:
        p = results["ppo"]
        lines += [f"{h} PPO on CartPole-v1 (PureJaxRL settings)", "",
                  f"Mode `{p['mode']}`, {p['reps']} repetitions, {p['date']}{_cpu(p)}, {p['total_timesteps']:,} steps per seed. "
                  "Each run is a fresh process with a cold compile cache. Run time includes one final "
                  "evaluation on both sides.", "", ppo_section(p), ""]
    if "sweep" in results:
        w = results["sweep"]
        lines += [f"{h} Sweeps: a population in one program (PureJaxRL CartPole settings)", "",
                  f"Mode `{w['mode']}`, {w['reps']} repetitions, {w['date']}{_cpu(w)}, {w['sweep']['total_timesteps']:,} steps "
                  f"per member (scaling: {w['scaling_timesteps']:,}). Whole processes, cold compile cache.", "",
                  sweep_section(w), ""]
    if "offpolicy" in results:
        o = results["offpolicy"]
        algos = ", ".join(f"{r['algo'].upper()} on {r['env']}" for r in o["rows"])
        sb3 = any(r.get("sb3_steps_per_s") for r in o["rows"])
        lines += [f"{h} Off-policy: {algos} (rejax's gymnax settings)", "",
                  f"Mode `{o['mode']}`, {o['reps']} repetitions, {o['date']}{_cpu(o)}, 1 seed; "
                  + ("rejax's own budgets (its `configs/gymnax/<env>.yaml`)" if o["mode"] == "full"
                     else "shorter budgets than rejax's own (steps column)")
                  + ". Each run is a fresh process with a "
                  "cold compile cache; run time includes one final evaluation (128 episodes) on both sides."
                  + (_sb3_budget_note(o["rows"]) if sb3 else ""), "",
                  *_row_dates(o), offpolicy_section(o), ""]
    if "recurrent" in results:
        r = results["recurrent"]
        lines += [f"{h} Recurrent PPO (GRU) vs feed-forward PPO, same env and settings", "",
                  f"Mode `{r['mode']}`, {r['reps']} repetitions, {r['date']}{_cpu(r)}, {r['rows'][0]['total_timesteps']:,} "
                  "steps, 1 seed. Each run is a fresh process with a cold compile cache; steps/s exclude compilation.",
                  "", recurrent_section(r), ""]
    if "marl" in results:
        m = results["marl"]
        lines += [f"{h} Multi-agent: MPE simple_spread against JaxMARL, IPPO and MAPPO training", "",
                  f"Mode `{m['mode']}`, {m['reps']} repetitions, {m['date']}{_cpu(m)}. Env throughput: random "
                  "actions, N copies vmapped in a jitted `lax.scan` in this process, compile timed apart. "
                  f"JaxMARL {m.get('jaxmarl_version', '?')} runs in this process with our jax. Training: fresh "
                  "processes with a cold compile cache; JaxMARL's IPPO is a script outside its pip package, so "
                  "there is no peer training row.", "", marl_section(m), ""]
    if "minatar" in results:
        n = results["minatar"]
        lines += [f"{h} PPO on MinAtar Breakout against PureJaxRL (its MinAtar settings)", "",
                  f"Mode `{n['mode']}`, {n['reps']} repetitions, {n['date']}{_cpu(n)}. Fresh processes, alternating; "
                  "training steps/s exclude compilation (jaxrl's children load their programs from a compile "
                  "cache filled by an untimed run, so no compile overlaps training).", "", minatar_section(n), ""]
    lines += [f"{h} Peer versions", "", table(["peer", "versions"],
                                             [[k, ", ".join(f"{n} {v}" for n, v in vs.items())]
                                              for k, vs in results.get("peer_versions", {}).items()]), ""]
    if results.get("notes"):
        lines += [f"{h} Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    return lines


def _cpu(section: dict) -> str:
    return f" on {section['cpu']}" if section.get("cpu") else ""


def _row_dates(section: dict) -> list[str]:
    """A line naming the rows measured apart from the section's run (`--algos`), if any."""
    apart = [f"{r['algo'].upper()} {r['date']} (mode `{r['mode']}`)" for r in section["rows"]
             if r.get("date", section["date"]) != section["date"]]
    return [f"Rows kept from an earlier run: {', '.join(apart)}.", ""] if apart else []


def write(results: dict, path: Path = HERE / "RESULTS.md") -> None:
    """RESULTS.md: the CPU results (top level of results.json), then each accelerator's (its key)."""
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{results['command']}` on {results['date']}. Medians over alternating repetitions; "
        "ratios are jaxrl / peer (throughput: higher is better for jaxrl; times: lower is better). Peak MiB: "
        "the child process's maximum resident memory (`ru_maxrss` from `os.wait4`). "
        "See README.md for the method. The machine is shared: timings are noisy. CPU and GPU figures are "
        "measured on different machines and never share a ratio.",
        "",
        "## Machine",
        "",
        "Of the latest run; sections measured since this was recorded name their CPU after their date "
        "(the machines are lent by turn and their CPUs differ).",
        "",
        machine_table(results["machine"]),
        "",
        "## Targets",
        "",
        table(["claim", "target", "measured", ""], targets(results)),
        "",
        *sections(results, "##"),
        "![results](results.png)",
        "",
    ]
    for backend in ACCELERATORS:
        if backend in results:
            acc = results[backend]
            lines += [f"## On {backend.upper()}: {acc['machine'].get('accelerator')}", "",
                      f"Written by `{acc['command']}` on {acc['date']}, on that machine.", "",
                      "### Machine", "", machine_table(acc["machine"]), "",
                      "### Targets", "", table(["claim", "target", "measured", ""], targets(acc)), "",
                      *sections(acc, "###")]
    path.write_text("\n".join(lines))


ACCELERATORS = ("gpu", "tpu")


README_START, README_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def update_readme(results: dict, path: Path = HERE.parent / "README.md") -> None:
    """Replace the README's block between the benchmark markers with the targets table."""
    text = path.read_text()
    if README_START not in text or README_END not in text:
        return
    m = results["machine"]
    block = "\n".join([
        README_START,
        f"Generated from [benchmarks/RESULTS.md](benchmarks/RESULTS.md) ({m['cores']} cores, JAX backend "
        f"{m['jax_backend']}; each section's command, date, repetitions and, where recorded, CPU are there: the "
        "machines are lent by turn and their CPUs differ). "
        "Ratios are jaxrl / peer:",
        "",
        table(["claim", "target", "measured", ""], targets(results)),
        *[line for backend in ACCELERATORS if backend in results for line in (
            "", f"On {backend.upper()} ({results[backend]['machine'].get('accelerator')}, "
            f"{results[backend]['date'][:10]}; CPU-only peers left out):", "",
            table(["claim", "target", "measured", ""],
                  [row for row in targets(results[backend]) if row[3] != "not measured"]))],
        README_END,
    ])
    head, rest = text.split(README_START, 1)
    path.write_text(head + block + rest.split(README_END, 1)[1])


def plot(results: dict, path: Path = HERE / "results.png") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    ax = axes[0]
    colors = {"jaxrl": "C0", "gymnax": "C1", "envpool": "C2"}
    styles = {"CartPole-v1": ("-", "o"), "Pendulum-v1": ("--", "s"), "Acrobot-v1": (":", "^")}
    for name in styles:
        rows = [r for r in results.get("env", {}).get("rows", []) if r["env"] == name]
        if not rows:
            continue
        for impl, color in colors.items():
            pts = [(r["num_envs"], r[f"{impl}_steps_per_s"]) for r in rows if r[f"{impl}_steps_per_s"]]
            if pts:
                ax.plot(*zip(*pts), styles[name][0], marker=styles[name][1], color=color, label=f"{impl} {name}")
    ax.set(xscale="log", yscale="log", xlabel="env copies N", ylabel="steps / s", title="Env throughput (median)")
    ax.legend(fontsize=6)

    pairs = results.get("ppo", {}).get("pairs", [])
    for ax, key, title in ((axes[1], "compile_s", "PPO compile time (s)"), (axes[2], "run_s", "PPO run time (s)")):
        labels = [f"{p['seeds']} seed{'s' if p['seeds'] > 1 else ''}" for p in pairs]
        xs = range(len(pairs))
        for offset, side, color in ((-0.2, "jaxrl", "C0"), (0.2, "rejax", "C3")):
            bars = ax.bar([i + offset for i in xs], [p[f"{side}_{key}"] or 0 for p in pairs], 0.4, label=side, color=color)
            ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.set_xticks(list(xs), [f"{lab}\njaxrl/rejax = {p[key.replace('_s', '_ratio')]:.2f}x"
                                 for lab, p in zip(labels, pairs)])
        ax.set_title(title + " — CartPole, fresh process")
        ax.legend()
    sb3 = results.get("ppo", {}).get("sb3")
    if sb3:
        axes[2].set_xlabel(f"PPO steps/s, 1 seed: jaxrl {sb3['jaxrl_steps_per_s']:,.0f} vs Stable-Baselines3 "
                           f"{sb3['steps_per_s']:,.0f} ({sb3['ratio']:.1f}x)", fontsize=8)
    fig.suptitle(f"jaxrl benchmarks — {results['machine']['cpu']}, {results['machine']['cores']} cores, {results['date']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # python -m benchmarks.report: rewrite RESULTS.md, results.png and README's table
    import json

    saved = json.loads((HERE / "results.json").read_text())
    write(saved)
    plot(saved)
    update_readme(saved)
