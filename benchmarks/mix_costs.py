"""What each part of issue 15 (performance, sampled kits, record-like mix, produced
vocal) costs, measured in one process side by side (the machine is shared and noisy:
read the ratios). One 60 s input, two takes' worth of each step.

    .venv/bin/python benchmarks/mix_costs.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pedalboard

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sideman.analysis import analyze  # noqa: E402
from sideman.arrangement import Knobs, arrange  # noqa: E402
from sideman.ingest import load  # noqa: E402
from sideman.perform import perform_arrangement  # noqa: E402
from sideman.pipeline import _output_span  # noqa: E402
from sideman.render import find_soundfont, master, render_stems  # noqa: E402
from sideman.render.filters import apply_sos_in_place  # noqa: E402
from sideman.render.mix import _quick_loudness_lufs, _widen_in_place, mix, role_eq_sos  # noqa: E402
from sideman.render.room import room_in_place  # noqa: E402
from sideman.render.vocal import add_vocal_sends, vocal_chain_in_place  # noqa: E402
from sideman.style import style_from_tags  # noqa: E402
from signals import sung_melody, write_audio  # noqa: E402

SR = 44100


def _best(fn, repeat: int = 3) -> float:
    """The least CPU time (all of this process's threads) over `repeat` runs: other
    programs on a shared machine stretch wall time, much less CPU time."""
    best = np.inf
    for _ in range(repeat):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return float(best)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    melody = sung_melody(bars=int(np.ceil(args.seconds / 2.4)), tempo_bpm=100.0)
    path = write_audio(folder / "voice.wav", melody.samples[: int(args.seconds * SR)])
    audio = load(path, sample_rate_hz=SR, min_duration_seconds=2, max_duration_seconds=480,
                 silence_threshold_dbfs=-60)
    analysis = analyze(audio)
    style = style_from_tags("pop, piano", "")
    written = arrange(analysis, style, knobs=Knobs(model="V5"), seed=1, variation=0)
    performed = perform_arrangement(written, model="V5")
    origin, duration = _output_span(performed, audio.duration_seconds)
    font = find_soundfont()
    gm_only = replace(font, drum_kits=())
    rows: list[tuple[str, float, float]] = []

    t_perform = _best(lambda: perform_arrangement(written, model="V5"))
    rows.append(("perform (one take)", 0.0, t_perform))

    def synth(score, f=font):
        return render_stems(score, soundfont=f, sample_rate_hz=SR, origin_seconds=origin, duration_seconds=duration,
                            spool=False)

    base = _best(lambda: synth(written.score, gm_only), repeat=2)
    rows.append(("synthesis: written, GM drums -> performed, GM drums", base,
                 _best(lambda: synth(performed.score, gm_only), repeat=2)))
    rows.append(("synthesis: performed, GM drums -> performed, AVL kit", rows[-1][2],
                 _best(lambda: synth(performed.score), repeat=2)))
    stems = synth(performed.score)
    stereo = stems["keys"]

    def freeverb():
        x = stereo.copy()
        reverb = pedalboard.Reverb(wet_level=1.0, dry_level=0.0, room_size=0.45)
        for s in range(0, len(x), 1 << 18):
            reverb.process(np.ascontiguousarray(x[s : s + (1 << 18)].T), float(SR), reset=False)

    rows.append(("room: Freeverb -> convolution (one bus)", _best(freeverb),
                 _best(lambda: room_in_place(stereo.copy(), sample_rate_hz=SR, room_size=0.45))))
    copy = _best(lambda: stereo.copy())
    rows.append(("per stem: high-pass + EQ cascade", copy,
                 _best(lambda: apply_sos_in_place(stereo.copy(), role_eq_sos("keys", sample_rate_hz=SR)))))
    rows.append(("per stem: loudness target (one measurement)", 0.0,
                 _best(lambda: _quick_loudness_lufs(stereo, sample_rate_hz=SR))))
    rows.append(("per stem: width", copy, _best(lambda: _widen_in_place(stereo.copy(), amount=0.3,
                                                                          delay_samples=500))))
    n = len(stereo)
    voice = np.zeros(n, np.float32)
    voice[: len(audio.samples)] = audio.samples[:n]
    rows.append(("vocal chain (high-pass, de-ess, compress)", 0.0,
                 _best(lambda: vocal_chain_in_place(voice.copy(), sample_rate_hz=SR))))
    rows.append(("vocal sends (room + delay)", 0.0,
                 _best(lambda: add_vocal_sends(np.zeros((n, 2), np.float32), voice, sample_rate_hz=SR,
                                               room_size=0.45, tempo_bpm=100.0))))

    def whole_mix():
        mix({k: v.copy() for k, v in stems.items()}, tracks=performed.score.tracks, voice=voice, sample_rate_hz=SR,
            voice_offset_samples=0, featured_role="keys", genre="pop", consume_stems=True)

    old_mix = _mix_before_issue_15()

    def whole_old_mix():
        if old_mix is not None:
            old_mix({k: v.copy() for k, v in stems.items()}, tracks=performed.score.tracks, voice=voice,
                    sample_rate_hz=SR, voice_offset_samples=0, consume_stems=True)

    rows.append(("whole mix (mix.py before issue 15 -> now, one take)", _best(whole_old_mix, repeat=2),
                 _best(whole_mix, repeat=2)))
    premaster = sum(stems.values()) * np.float32(0.3)
    rows.append(("master (up to 3 passes)", 0.0, _best(lambda: master(premaster.copy(), sample_rate_hz=SR))))
    print(f"{args.seconds:.0f} s input, one take per row; CPU seconds of this process (best of 2-3)")
    print(f"{'step':<56} {'before':>8} {'after':>8} {'extra':>8}")
    for name, before, after in rows:
        print(f"{name:<56} {before:>8.3f} {after:>8.3f} {after - before:>+8.3f}")


#: the last commit before issue 15's mix
_BEFORE = "010ed74"


def _mix_before_issue_15():
    """mix() as it was before issue 15 (read from git), or None outside a checkout."""
    import importlib.util
    import subprocess

    try:
        source = subprocess.run(["git", "show", f"{_BEFORE}:src/sideman/render/mix.py"], check=True,
                                capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1]).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "mix_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("mix_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["mix_before"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.mix


if __name__ == "__main__":
    main()
