"""What `sideman add` and `sideman analyze` show a person (the CLI's JSON outputs are
elsewhere, in shared CLI.md): a progress bar with stage names, the closing table of a
run, the readable summary of an analysis, and the `--plot` picture.

    progress = StageProgress(sys.stderr, variations=2)
    manifest = generate(request, out_dir=out, settings=settings, on_stage=progress)
    progress.close()
    sys.stdout.write(add_table(manifest, out_dir=out) + "\n")
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sideman.errors import SidemanError

__all__ = ["PlotUnavailable", "StageProgress", "add_table", "analysis_summary", "chord_symbol",
           "require_plotting", "save_analysis_plot"]

_BAR_WIDTH = 24
_CHORDS_SHOWN = 16
_NO_MATPLOTLIB = ("--plot needs matplotlib, which is not installed: "
                  "pip install 'sideman[plot]' (or: pip install matplotlib)")


class PlotUnavailable(SidemanError):
    """`--plot` needs matplotlib, which is an optional extra."""


class StageProgress:
    """A `generate()` stage callback that reports on `stream`.

    On a terminal (``stream.isatty()``) one line is redrawn: a bar, the percentage, what
    is happening now ("listening", "the band is playing take 2/3") and the time so far,
    ticking between stages. Elsewhere (a pipe, a log file) each stage prints one plain
    line, ``[   1.9s]   8% analysis``, which scripts can read. Call close() when
    generate() returns or fails.
    """

    def __init__(self, stream: TextIO, *, variations: int, tty: bool | None = None,
                 tick_seconds: float = 0.25) -> None:
        self._stream = stream
        self._variations = max(1, variations)
        self._tty = stream.isatty() if tty is None else tty
        self._tick_seconds = tick_seconds
        self._started = time.perf_counter()
        self._takes_done = 0
        self._state: tuple[int, str] | None = None  # (percent, what is happening now)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, event) -> None:  # event: sideman.pipeline.StageEvent
        if event.stage in ("first", "render", "complete"):
            self._takes_done += 1
        if not self._tty:
            elapsed = time.perf_counter() - self._started
            self._stream.write(f"[{elapsed:6.1f}s] {event.progress:3d}% {event.stage}\n")
            self._stream.flush()
            return
        with self._lock:
            self._state = (max(0, min(100, event.progress)), self._doing(event.stage))
            self._draw()
        if self._ticker is None and event.stage != "complete" and self._tick_seconds > 0:
            self._ticker = threading.Thread(target=self._tick, name="sideman-progress", daemon=True)
            self._ticker.start()

    def close(self) -> None:
        """Stop ticking and end the redrawn line (a no-op for plain lines)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            if self._tty and self._state is not None:
                self._stream.write("\n")
                self._stream.flush()
                self._state = None

    def _tick(self) -> None:
        while not self._stop.wait(self._tick_seconds):
            with self._lock:
                if self._state is not None:
                    self._draw()

    def _draw(self) -> None:
        percent, doing = self._state  # type: ignore[misc]
        elapsed = time.perf_counter() - self._started
        filled = round(_BAR_WIDTH * percent / 100)
        bar = "█" * filled + "░" * (_BAR_WIDTH - filled)
        line = f"{bar} {percent:3d}%  {doing}  {elapsed:5.1f}s"
        columns = shutil.get_terminal_size((100, 20)).columns
        self._stream.write("\r\x1b[2K" + line[: max(10, columns - 1)])
        self._stream.flush()

    def _doing(self, stage: str) -> str:
        if stage == "ingest":
            return "reading the take"
        if stage == "analysis":
            return "listening: tempo, key, melody, chords"
        if stage == "complete":
            return "done"
        take = min(self._takes_done + 1, self._variations)
        return f"the band is playing take {take}/{self._variations}"


def add_table(manifest: dict, *, out_dir: Path) -> str:
    """The table `sideman add` ends with: tempo, meter, key, chords, instruments, files."""
    analysis = manifest.get("analysis") or {}
    lines = [
        f"heard: {analysis.get('tempo_bpm', 0):.1f} bpm, {analysis.get('meter', '?')}, "
        f"{analysis.get('key', '?')}, {analysis.get('duration_seconds', 0):.1f} s",
        "",
    ]
    rows: list[tuple[str, list[str]]] = []
    for variation in manifest.get("variations") or []:
        number = variation.get("variation", len(rows) + 1)
        files = variation.get("files") or {}
        file_lines = [f"{name:<17} {out_dir / path}" for name, path in files.items() if isinstance(path, str)]
        file_lines += [f"{'stem ' + role:<17} {out_dir / path}" for role, path in (files.get("stems") or {}).items()]
        rows.append((f"take {number}", [
            f"tempo        {variation.get('tempo_bpm', 0):.1f} bpm",
            f"meter        {variation.get('meter', '?')}",
            f"key          {variation.get('key', '?')}",
            f"chords       {_chord_line(variation.get('chords') or [])}",
            "instruments  " + ", ".join(f"{i['name']} ({i['role']})" for i in variation.get("instruments") or []),
            f"loudness     {variation.get('loudness_lufs', float('nan')):.1f} LUFS, "
            f"peak {variation.get('true_peak_dbtp', float('nan')):.1f} dBTP, "
            f"{variation.get('duration_seconds', 0):.1f} s",
            "files        " + (file_lines[0] if file_lines else "-"),
            *("             " + line for line in file_lines[1:]),
        ]))
    for name, body in rows:
        lines.append(f"── {name} " + "─" * 40)
        lines.extend("  " + line for line in body)
    lines += ["", f"manifest: {out_dir / 'manifest.json'}"]
    return "\n".join(lines)


def analysis_summary(result: dict, *, name: str) -> str:
    """The readable summary `sideman analyze` prints without --json (`result` is the
    --json object)."""
    notes = result.get("notes") or []
    low, high = (result.get("vocal_range_midi") or [0, 0])[:2]
    sections = result.get("sections") or []
    return "\n".join([
        f"{name}: {result['duration_seconds']:.1f} s",
        f"  tempo     {result['tempo_bpm']:.1f} bpm, meter {result['meter']}, "
        f"{len(result.get('beats_seconds') or [])} beats, {len(result.get('downbeats_seconds') or [])} bars",
        f"  key       {result['key']}",
        f"  melody    {len(notes)} notes, range {_note_name(low)}–{_note_name(high)} (MIDI {low}–{high})",
        f"  chords    {_chord_line(result.get('chords') or [])}",
        "  form      " + (" ".join(f"{s['label']}({s['start_seconds']:.0f}s)" for s in sections) or "-"),
    ])


def require_plotting() -> None:
    """Raise PlotUnavailable, with how to install it, when matplotlib is missing."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise PlotUnavailable(_NO_MATPLOTLIB)


def save_analysis_plot(path: Path, *, samples, sample_rate_hz: int, result: dict, title: str = "",
                       f0_times_seconds: Sequence[float] | None = None,
                       f0_hz: Sequence[float] | None = None) -> Path:
    """Draw the waveform, f0 with the notes, beats and chords of one analysis into a PNG.

    samples: mono float audio [shape=(n,)] at sample_rate_hz; result: the
    `sideman analyze --json` object; f0 arrays [shape=(frames,)] with 0 or NaN where
    unvoiced. Raises PlotUnavailable without matplotlib.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise PlotUnavailable(_NO_MATPLOTLIB) from error
    import numpy as np

    samples = np.asarray(samples, dtype=np.float32)
    duration = len(samples) / sample_rate_hz
    figure, (wave_ax, pitch_ax, chord_ax) = plt.subplots(
        3, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [1.2, 2.2, 0.6]})
    figure.suptitle(f"{title or Path(path).stem}: {result['tempo_bpm']:.1f} bpm {result['meter']}, {result['key']}")

    step = max(1, len(samples) // 4000)
    frames = samples[: len(samples) // step * step].reshape(-1, step)
    times = np.arange(len(frames)) * step / sample_rate_hz
    wave_ax.fill_between(times, frames.min(axis=1), frames.max(axis=1), color="#2d5b8a", linewidth=0)
    wave_ax.set_ylabel("waveform")
    wave_ax.set_yticks([])

    notes = result.get("notes") or []
    for note in notes:
        pitch_ax.add_patch(plt.Rectangle((note["start_seconds"], note["pitch_midi"] - 0.4),
                                         note["end_seconds"] - note["start_seconds"], 0.8,
                                         color="#f0b27a", alpha=0.9, linewidth=0))
    pitches = [n["pitch_midi"] for n in notes] or [60]
    if f0_times_seconds is not None and f0_hz is not None:
        f0 = np.asarray(f0_hz, dtype=float)
        midi = np.full_like(f0, np.nan)
        voiced = np.isfinite(f0) & (f0 > 0)
        midi[voiced] = 69 + 12 * np.log2(f0[voiced] / 440.0)
        pitch_ax.plot(np.asarray(f0_times_seconds), midi, color="#1d3550", linewidth=1, label="f0")
    pitch_ax.set_ylim(min(pitches) - 4, max(pitches) + 4)
    pitch_ax.set_ylabel("pitch (MIDI)")

    downbeats = set(round(t, 3) for t in result.get("downbeats_seconds") or [])
    for beat in result.get("beats_seconds") or []:
        strong = round(beat, 3) in downbeats
        for ax in (wave_ax, pitch_ax):
            ax.axvline(beat, color="#2d5b8a", alpha=0.45 if strong else 0.15, linewidth=1.2 if strong else 0.8)

    for index, chord in enumerate(result.get("chords") or []):
        start, end = chord["start_seconds"], chord["end_seconds"]
        chord_ax.axvspan(start, end, color="#cddcea" if index % 2 else "#dfe8f1")
        chord_ax.text((start + end) / 2, 0.5, chord_symbol(chord["label"]), ha="center", va="center",
                      fontsize=10, fontweight="bold", color="#1d3550", clip_on=True)
    chord_ax.set_yticks([])
    chord_ax.set_ylabel("chords")
    chord_ax.set_xlim(0, duration)
    chord_ax.set_xlabel("seconds")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def chord_symbol(label: str) -> str:
    """A Harte label as a lead-sheet symbol: "A:min" -> "Am", "G:7" -> "G7", "N" -> "N.C."."""
    if not label or label in ("N", "X"):
        return "N.C."
    root, _, rest = label.partition(":")
    quality, _, bass = (rest or "maj").partition("/")
    names = {"maj": "", "min": "m", "7": "7", "maj7": "maj7", "min7": "m7", "dim": "°", "aug": "+",
             "sus4": "sus4", "sus2": "sus2", "hdim7": "ø7", "dim7": "°7", "maj6": "6", "min6": "m6"}
    return root + names.get(quality, quality) + (f"/{bass}" if bass else "")


def _chord_line(chords: list[dict]) -> str:
    symbols = [chord_symbol(c["label"]) for c in chords]
    shown = " | ".join(symbols[:_CHORDS_SHOWN])
    return (shown + (f" … (+{len(symbols) - _CHORDS_SHOWN})" if len(symbols) > _CHORDS_SHOWN else "")) or "-"


def _note_name(midi: int) -> str:
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    return f"{names[int(midi) % 12]}{int(midi) // 12 - 1}"
