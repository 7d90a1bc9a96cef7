"""`sideman eval --mix DIR`: how the band's mix sits, per variation, beside real bands.

Every case of an eval folder (shared eval/FORMAT.md) is analysed, arranged in one of
`MIX_TAGS` (by turns, so that a folder covers several genres and featured
instruments), performed and rendered with its voice, two variations each, the models
taking turns; each variation is measured with `sideman.render.measure`: the loudness
spread of drums, bass and the tagged instrument, the featured instrument's gap to the
loudest stem, the band's 60-250 Hz and 2-6 kHz shares, its side/mid, and the produced
voice over the band in sung windows. `--reference DIR` measures real multitrack stems
the same way (``NAME-drums/bass/other/vocals.wav``; "other" is read as the featured
part) and prints them underneath. The goals of the issue that asked for these
figures are printed with them.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from sideman.evaluation import column_means, read_cases
from sideman.render.measure import MixFigures, measure_mix

log = logging.getLogger(__name__)

#: the styles the cases take by turns: a genre and the instrument it features
MIX_TAGS = ("pop, piano", "rock, electric guitar", "jazz, piano", "folk, acoustic guitar", "ballad, strings",
            "rnb, electric piano", "edm, synth", "country, acoustic guitar")
#: the goals (issue 15): figure -> (comparison, value)
GOALS = {"stem_spread_lu": ("<=", 4.0), "featured_gap_lu": ("<=", 2.0), "low_share_db": ("<=", -3.5),
         "presence_share_db": (">=", -15.0), "side_to_mid_db": (">=", -11.0)}
#: goals that hold for V4_5PLUS only ("full stereo"; V5 is narrower by design)
_V4_5PLUS_GOALS = frozenset({"side_to_mid_db"})
_COLUMNS = ("stem_spread_lu", "featured_gap_lu", "low_share_db", "presence_share_db", "side_to_mid_db",
            "vocal_to_band_db")
_STEM_ROLES = ("drums", "bass", "other")


def evaluate_mix_folder(folder: Path, *, seed: int = 1, limit: int | None = None,
                        reference: Path | None = None, plots: Path | None = None) -> dict:
    """Measure the mix of every case (two variations each); returns {"variations": [...],
    "mean": {...}, "reference": [...]} (figures as `MixFigures.to_json`)."""
    rows = []
    cases = [c for c in read_cases(folder) if (folder / c["audio"]).is_file()]
    for i, case in enumerate(cases[:limit]):
        tags = MIX_TAGS[i % len(MIX_TAGS)]
        model = "V4_5PLUS" if i % 2 == 0 else "V5"
        rows += evaluate_mix_case(folder / case["audio"], tags=tags, model=model, seed=seed, name=case["id"],
                                  plots=plots)
    mean = column_means(rows, _COLUMNS, digits=2)
    for column, (op, goal) in GOALS.items():
        values = [r[column] for r in rows if r.get(column) is not None
                  and (column not in _V4_5PLUS_GOALS or r["model"] == "V4_5PLUS")]
        met = [v <= goal if op == "<=" else v >= goal for v in values]
        mean[f"{column}_met"] = f"{sum(met)}/{len(met)}"
    return {"variations": rows, "mean": mean,
            "reference": evaluate_reference(reference, plots=plots) if reference is not None else []}


def evaluate_mix_case(audio_path: Path, *, tags: str, model: str, seed: int, name: str,
                      plots: Path | None = None, variations: int = 2) -> list[dict]:
    """Render one case's variations in this process and measure each."""
    from sideman.analysis import analyze
    from sideman.arrangement import Knobs, arrange
    from sideman.ingest import load
    from sideman.perform import perform_arrangement
    from sideman.pipeline import _output_span
    from sideman.render import find_soundfont, render_variation
    from sideman.style import style_from_tags

    audio = load(audio_path, sample_rate_hz=44100, min_duration_seconds=2.0, max_duration_seconds=480.0,
                 silence_threshold_dbfs=-60.0)
    analysis = analyze(audio)
    style = style_from_tags(tags, "")
    font = find_soundfont()
    rows = []
    for v in range(variations):
        arrangement = perform_arrangement(arrange(analysis, style, knobs=Knobs(model=model), seed=seed + v,
                                                  variation=v), model=model)
        origin, duration = _output_span(arrangement, audio.duration_seconds)
        started = time.perf_counter()
        rendered = render_variation(arrangement.score, voice=audio.samples, voice_sample_rate_hz=audio.sample_rate_hz,
                                    soundfont=font, origin_seconds=origin, duration_seconds=duration)
        seconds = time.perf_counter() - started
        figures = measure_mix(rendered.stems, sample_rate_hz=rendered.sample_rate_hz,
                              featured_role=arrangement.score.featured_role,
                              band=np.asarray(rendered.instrumental_premaster))
        row = {"case": name, "tags": tags, "model": model, "variation": v + 1, **figures.to_json(),
               "render_seconds": round(seconds, 2)}
        row["vocal_to_band_db"] = (None if rendered.vocal_to_band_db is None
                                   else round(float(rendered.vocal_to_band_db), 2))
        rows.append(row)
        if plots is not None:
            spectrogram_png(rendered.song, sample_rate_hz=rendered.sample_rate_hz,
                            path=plots / f"{name}-v{v + 1}.png", title=f"{name} v{v + 1}: {tags}, {model}")
        log.info("%s v%d: %s", name, v + 1, row)
    return rows


def evaluate_reference(folder: Path, *, plots: Path | None = None) -> list[dict]:
    """The same figures on real stems: NAME-drums/bass/other(/vocals).wav in `folder`
    (analysis only: nothing is copied)."""
    rows = []
    for drums in sorted(folder.glob("*-drums.wav")):
        name = drums.name[: -len("-drums.wav")]
        paths = {role: folder / f"{name}-{role}.wav" for role in _STEM_ROLES}
        if not all(p.is_file() for p in paths.values()):
            continue
        stems, rate = {}, 44100
        for role, path in paths.items():
            stems[role], rate = _read_wav(path)
        n = min(len(s) for s in stems.values())
        stems = {r: s[:n] for r, s in stems.items()}
        voice = None
        if (folder / f"{name}-vocals.wav").is_file():
            voice, _ = _read_wav(folder / f"{name}-vocals.wav")
            voice = voice[:n]
        band = sum(stems.values())
        figures = measure_mix(stems, sample_rate_hz=rate, featured_role="other", band=band, voice=voice)
        rows.append({"case": name, "tags": "real stems", **figures.to_json()})
        if plots is not None and (folder / f"{name}-mixture.wav").is_file():
            mixture, _ = _read_wav(folder / f"{name}-mixture.wav")
            spectrogram_png(mixture, sample_rate_hz=rate, path=plots / f"real-{name}.png", title=f"{name} (real)")
    return rows


def format_mix_table(result: dict) -> str:
    """The figures as a plain-text table, goals last."""
    head = (f"{'case':<34} {'tags':<24} {'model':<8} {'v':>1} {'spread':>6} {'gap':>5} {'low':>6} {'2-6k':>6} "
            f"{'S/M':>6} {'vox':>6}")
    lines = [head, "-" * len(head)]

    def cell(value: float | None, width: int) -> str:
        return f"{'-':>{width}}" if value is None or (isinstance(value, float) and math.isnan(value)) \
            else f"{value:>{width}.1f}"

    for r in result["variations"]:
        lines.append(f"{r['case'][:34]:<34} {r['tags'][:24]:<24} {r['model']:<8} {r['variation']:>1} "
                     + " ".join(cell(r.get(c), w) for c, w in zip(_COLUMNS, (6, 5, 6, 6, 6, 6), strict=True)))
    mean = result["mean"]
    lines.append(f"{'mean':<34} {'':<24} {'':<8} {'':>1} "
                 + " ".join(cell(mean.get(c), w) for c, w in zip(_COLUMNS, (6, 5, 6, 6, 6, 6), strict=True)))
    for r in result.get("reference", []):
        lines.append(f"{r['case'][:34]:<34} {r['tags'][:24]:<24} {'':<8} {'':>1} "
                     + " ".join(cell(r.get(c), w) for c, w in zip(_COLUMNS, (6, 5, 6, 6, 6, 6), strict=True)))
    goals = ", ".join(f"{c} {op} {g:g}{' (V4_5PLUS)' if c in _V4_5PLUS_GOALS else ''}: {mean.get(f'{c}_met')}"
                      for c, (op, g) in GOALS.items())
    lines.append(f"goals met (variations): {goals}")
    lines.append("spread: LU of drums, bass, featured; gap: loudest stem - featured, LU; low: 60-250 Hz share, "
                 "2-6k: 2-6 kHz share, dB; S/M: side/mid, dB; vox: voice over band in sung windows, dB")
    return "\n".join(lines)


def spectrogram_png(audio: np.ndarray, *, sample_rate_hz: int, path: Path, title: str) -> None:
    """A log-frequency spectrogram of a mix's mid (needs matplotlib: sideman[plot])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import spectrogram

    audio = np.asarray(audio, dtype=np.float32)
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    freqs, times, power = spectrogram(mono[: 60 * sample_rate_hz], fs=sample_rate_hz, nperseg=4096, noverlap=3072)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.pcolormesh(times, np.maximum(freqs, 20.0), 10 * np.log10(power + 1e-12), shading="auto", vmin=-110, vmax=-30,
                  cmap="magma")
    ax.set_yscale("log")
    ax.set_ylim(30, 16000)
    ax.set_xlabel("seconds")
    ax.set_ylabel("Hz")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A WAV file as float32 [shape=(n, 2)] and its rate (mono is doubled)."""
    from scipy.io import wavfile

    rate, data = wavfile.read(path)
    if data.dtype.kind == "i":
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = np.stack([data, data], axis=1)
    return data[:, :2], int(rate)


__all__ = ["GOALS", "MIX_TAGS", "MixFigures", "evaluate_mix_case", "evaluate_mix_folder", "evaluate_reference",
           "format_mix_table", "spectrogram_png"]
