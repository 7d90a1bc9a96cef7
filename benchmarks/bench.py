"""Speed and memory of sideman on this machine, compared in one run (the machine is
shared and noisy: read the ratios, not the absolute seconds).

    make bench            # 60 s input (and its re-render), then the 8-minute peak-memory run (~2 min)
    python benchmarks/bench.py --quick   # the 60 s part only

Targets (issue 5): both variations <= 6 s and the first <= 3.5 s for 60 s of input on
this 2-core machine (real-time factor <= 0.1); peak memory <= 1.5 GB at 8 minutes.
The floor is what any tool must do: decode the input and encode the 4 MP3s, one after
another, with the same encoder (LAME via lameenc, q 7, 192 kbps CBR).

This machine's speed drifts by up to ~40 % from minute to minute (a shared VM: the same
64 s MP3 encode measured 0.27-0.49 CPU-s within an hour); the load average is printed,
and `cpu_seconds` (this process and its synthesis workers) is what another program on
the machine cannot inflate. Compare runs made together.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sideman.analysis import analyze  # noqa: E402
from sideman.ingest import decode  # noqa: E402
from sideman.pipeline import GenerateRequest, generate, rerender_request  # noqa: E402
from sideman.render import encode_mp3  # noqa: E402
from sideman.settings import Settings  # noqa: E402
from signals import sung_melody, write_audio  # noqa: E402


def _input(seconds: float, folder: Path) -> Path:
    bars = int(np.ceil(seconds / 2.4))  # 100 bpm, 4/4: 2.4 s a bar
    melody = sung_melody(bars=bars, tempo_bpm=100.0)
    samples = melody.samples[: int(seconds * 44100)]
    return write_audio(folder / f"voice-{int(seconds)}s.wav", samples)


def _timed(fn, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return float(best)


#: generate() runs per measurement (medians reported)
RUNS = 5


def bench(seconds: float = 60.0) -> dict:
    settings = Settings(data_dir=Path(tempfile.mkdtemp()))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = _input(seconds, folder)
        decode_s = _timed(lambda: decode(path, sample_rate_hz=44100))
        audio16 = decode(path, sample_rate_hz=16000)
        analyze(audio16)  # warm: the pitch model's session and caches
        analysis_s = _timed(lambda: analyze(audio16))

        stereo = np.repeat(decode(path, sample_rate_hz=44100).samples[:, None], 2, axis=1)

        def floor() -> None:  # what any tool must do: decode the input, encode 4 MP3s
            decode(path, sample_rate_hz=44100)
            for i in range(4):
                encode_mp3(folder / f"floor{i}.mp3", stereo, sample_rate_hz=44100, bitrate_kbps=192)

        request = GenerateRequest(path, tags="pop, piano", seed=1)
        generate(request, out_dir=folder / "warm", settings=settings)  # warm: SoundFont loaded
        # the machine's speed drifts: floor and generate alternate, RUNS times each, and
        # the medians (and the best) are reported
        runs = []
        for run in range(RUNS):
            floor_cpu_started, floor_started = _cpu_seconds(), time.perf_counter()
            floor()
            floor_s, floor_cpu_s = time.perf_counter() - floor_started, _cpu_seconds() - floor_cpu_started
            marks: dict[str, float] = {}
            cpu_started = _cpu_seconds()
            started = time.perf_counter()
            manifest = generate(request, out_dir=folder / f"out{run}", settings=settings,
                                on_stage=lambda e, marks=marks, started=started:
                                marks.setdefault(e.stage, time.perf_counter() - started))
            total_s = time.perf_counter() - started
            runs.append({"first": marks.get("first", total_s), "both": total_s, "floor": floor_s,
                         "cpu": _cpu_seconds() - cpu_started, "floor_cpu": floor_cpu_s, "events": list(marks)})
        # play it again (issue 13): from a stored analysis, with the singer's corrections;
        # after the figures above, so it does not disturb them
        rerenders = _rerenders(folder, settings)

    def median(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    first_s, total_s, floor_s = median("first"), median("both"), median("floor")
    return {
        "input_seconds": seconds,
        "runs": RUNS,
        "decode_seconds": round(decode_s, 3),
        "analysis_seconds": round(analysis_s, 3),
        "analysis_over_decode": round(analysis_s / decode_s, 1),
        "first_variation_seconds": round(first_s, 3),
        "both_variations_seconds": round(total_s, 3),
        "best_first_variation_seconds": round(min(r["first"] for r in runs), 3),
        "best_both_variations_seconds": round(min(r["both"] for r in runs), 3),
        "real_time_factor": round(total_s / seconds, 3),
        "floor_decode_plus_4_mp3_seconds": round(floor_s, 3),
        "total_over_floor": round(statistics.median(r["both"] / r["floor"] for r in runs), 2),
        "first_over_floor": round(statistics.median(r["first"] / r["floor"] for r in runs), 2),
        "event_order": runs[-1]["events"],
        # CPU time is what the shared machine cannot inflate: on two idle cores the wall
        # time could approach cpu / 2
        "cpu_seconds": round(median("cpu"), 2),
        "cpu_over_floor_cpu": round(statistics.median(r["cpu"] / r["floor_cpu"] for r in runs), 2),
        "idle_two_core_estimate_seconds": round(median("cpu") / 2, 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "stage_seconds": manifest["timings_seconds"],
        **rerenders,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def _rerenders(folder: Path, settings: Settings) -> dict:
    """`sideman render --from` of the runs above with the singer's corrections (the key
    heard as its relative minor, the tempo confirmed: the same amount of music to play,
    so the figure compares with the full run's), both variations and then one (medians
    of RUNS). Nothing is decoded or listened to again."""
    both, one, cpu = [], [], []
    for run in range(RUNS):
        source = folder / f"out{run}" / "manifest.json"
        for variations, into in ((2, both), (1, one)):
            request = rerender_request(source, bpm=100.0, key="E minor", variations=variations)
            cpu_started, started = _cpu_seconds(), time.perf_counter()
            rendered = generate(request, out_dir=folder / f"again{run}-{variations}", settings=settings)
            into.append(time.perf_counter() - started)
            if variations == 2:
                cpu.append(_cpu_seconds() - cpu_started)
    return {
        "rerender_both_variations_seconds": round(statistics.median(both), 3),
        "rerender_one_variation_seconds": round(statistics.median(one), 3),
        "rerender_both_variations_cpu_seconds": round(statistics.median(cpu), 2),
        "rerender_stage_seconds": rendered["timings_seconds"],
    }


def _cpu_seconds() -> float:
    """CPU time of this process and of its descendants still running (the synthesis
    server and its workers, which outlive each generate() call), from /proc on Linux."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ticks = os.sysconf("SC_CLK_TCK")
    total = usage.ru_utime + usage.ru_stime
    for pid in _descendants(os.getpid()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _descendants(root: int) -> list[int]:
    """Every living descendant of a process (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid_text, rest = stat.read_text().split(" (", 1)
            parent = int(rest.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(pid_text))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _tree_pss_mb(root: int) -> float:
    """Proportional set size of a process and its descendants, MB: shared pages (the
    SoundFont the synthesis workers share with their server) counted once in all."""
    total_kb = 0
    for pid in [root, *_descendants(root)]:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
                    break
        except OSError:
            continue
    return total_kb / 1024


def peak_memory_long(seconds: float = 480.0) -> dict:
    """generate() on an 8-minute input in a fresh process (the input is written here, so
    that making it does not count); its peak resident memory and wall time.

    Two figures: the child's own peak (VmHWM, Linux: its ru_maxrss would start from the
    RSS of this process at fork time, which exec carries over), and the peak of the sum
    of proportional set sizes over the child and its synthesis server and workers,
    sampled every 0.5 s: what the run costs the machine, shared pages counted once.
    The target (<= 1.5 GB) is judged on the second."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = _input(seconds, folder)
        code = (
            "import sys, json, resource, time; from pathlib import Path;"
            "from sideman.pipeline import GenerateRequest, generate; from sideman.settings import Settings;"
            f"d = Path({str(folder)!r}); t = time.perf_counter();"
            f"m = generate(GenerateRequest(Path({str(path)!r}), tags='pop, piano', seed=1), out_dir=d / 'o',"
            " settings=Settings(data_dir=d));"
            "hwm = [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')];"
            "print(json.dumps({'peak_rss_mb': hwm[0] // 1024 if hwm else"
            " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,"
            " 'generate_seconds': round(time.perf_counter() - t, 1),"
            " 'loudness_lufs': [[v['loudness_lufs'], v['song_loudness_lufs']] for v in m['variations']],"
            " 'true_peak_dbtp': [[v['true_peak_dbtp'], v['song_true_peak_dbtp']] for v in m['variations']]}))"
        )
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        peak_pss = 0.0
        while child.poll() is None:  # the whole tree: generate() and its synthesis processes
            peak_pss = max(peak_pss, _tree_pss_mb(child.pid))
            time.sleep(0.5)  # reading smaps_rollup walks page tables: not too often
        out, err = child.communicate()
        if child.returncode:
            raise RuntimeError(f"the 8-minute run failed:\n{err}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_pss_mb_all_processes"] = round(peak_pss)
    result["input_seconds"] = seconds
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="skip the 8-minute peak-memory run")
    parser.add_argument("--long", action="store_true", help="(the default; kept for old scripts)")
    args = parser.parse_args()
    result = {"sixty_seconds": bench(args.seconds)}
    if not args.quick:
        result["eight_minutes"] = peak_memory_long()
    short = result["sixty_seconds"]
    summary = {
        "total_over_floor": short["total_over_floor"],
        "first_over_floor": short["first_over_floor"],
        "real_time_factor": short["real_time_factor"],
        "both_variations_seconds": short["both_variations_seconds"],
        "first_variation_seconds": short["first_variation_seconds"],
        "cpu_seconds": short["cpu_seconds"],
        "cpu_over_floor_cpu": short["cpu_over_floor_cpu"],
        "rerender_both_variations_seconds": short["rerender_both_variations_seconds"],
        "rerender_one_variation_seconds": short["rerender_one_variation_seconds"],
        "rerender_both_variations_cpu_seconds": short["rerender_both_variations_cpu_seconds"],
    }
    summary["targets_met"] = {
        "both_variations_seconds<=6": short["both_variations_seconds"] <= 6.0,
        "first_variation_seconds<=3.5": short["first_variation_seconds"] <= 3.5,
    }
    if "eight_minutes" in result:
        summary["peak_rss_mb_8_minutes_main_process"] = result["eight_minutes"]["peak_rss_mb"]
        summary["peak_pss_mb_8_minutes_all_processes"] = result["eight_minutes"]["peak_pss_mb_all_processes"]
        summary["targets_met"]["peak_memory_mb_8_minutes<=1500"] = (
            result["eight_minutes"]["peak_pss_mb_all_processes"] <= 1500)
    result["summary"] = summary
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
