"""`sideman eval DIR`: the analysis and the band's chart scored against an eval folder
(format: shared eval/FORMAT.md), with mir_eval wherever a standard metric exists.

Per case: tempo (within 4 %, allowing x2, x1/2, x3, x1/3), beat F-measure and AMLt,
downbeat F-measure, key weighted score, chord majmin overlap, note F1 (50 ms onsets,
50 cents, offsets ignored); and for the arrangement: beat AMLt of what the band plays
against the true beats, the share of melody time on a chord tone of the chord the band
plays, the share of long-note time that clashes (a semitone above a chord tone), and
whether the band covers the whole input with an intro and an outro.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import mir_eval
import numpy as np

from sideman.analysis import Analysis, analyze
from sideman.arrangement import Arrangement, Knobs, arrange
from sideman.ingest import decode
from sideman.style import style_from_tags

log = logging.getLogger(__name__)

TEMPO_TOLERANCE = 0.04
LONG_NOTE_SECONDS = 0.4
METRICS = ("tempo_ok", "beat_f", "beat_amlt", "downbeat_f", "key_score", "chord_majmin", "note_f1",
           "band_beat_amlt", "chord_tone_ratio", "clash_ratio", "covers_input", "analysis_seconds")


def evaluate_folder(folder: Path, *, tags: str = "pop, piano", seed: int = 1) -> dict:
    """Score every case of `folder`; returns {"cases": [...], "mean": {...}}."""
    cases = []
    for meta_path in sorted(folder.glob("*.json")):
        case = json.loads(meta_path.read_text())
        if not isinstance(case, dict) or "audio" not in case:
            continue
        cases.append(evaluate_case(folder, case, tags=tags, seed=seed))
    mean = {}
    for metric in METRICS:
        values = [c[metric] for c in cases if c.get(metric) is not None]
        mean[metric] = round(float(np.mean(values)), 3) if values else None
    return {"folder": str(folder), "cases": cases, "mean": mean}


def evaluate_case(folder: Path, case: dict, *, tags: str, seed: int) -> dict:
    audio = decode(folder / case["audio"], sample_rate_hz=16000)
    started = time.perf_counter()
    heard = analyze(audio)
    elapsed = time.perf_counter() - started
    band = arrange(heard, style_from_tags(tags), knobs=Knobs(weirdness_constraint=0.0, audio_weight=1.0), seed=seed)
    row: dict = {"id": case["id"], "kind": case.get("kind"), "analysis_seconds": round(elapsed, 3),
                 "tempo_bpm": round(heard.grid.tempo_bpm, 2), "meter": heard.grid.meter, "key": heard.key.label}
    row.update(_rhythm_scores(case, heard))
    row.update(_pitch_scores(case, heard))
    row.update(_band_scores(case, heard, band))
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}


def _rhythm_scores(case: dict, heard: Analysis) -> dict:
    out: dict = {"tempo_ok": None, "beat_f": None, "beat_amlt": None, "downbeat_f": None}
    if case.get("tempo_bpm"):
        ratio = heard.grid.tempo_bpm / case["tempo_bpm"]
        out["tempo_ok"] = float(any(abs(ratio / m - 1) <= TEMPO_TOLERANCE for m in (1, 2, 0.5, 3, 1 / 3)))
    estimated = np.array(heard.grid.beats_seconds)
    if case.get("beats_seconds"):
        reference = np.array(case["beats_seconds"])
        out["beat_f"] = mir_eval.beat.f_measure(reference, estimated)
        out["beat_amlt"] = mir_eval.beat.continuity(reference, estimated)[3]
    if case.get("downbeats_seconds"):
        out["downbeat_f"] = mir_eval.beat.f_measure(np.array(case["downbeats_seconds"]),
                                                    np.array(heard.grid.downbeats_seconds))
    return out


def _pitch_scores(case: dict, heard: Analysis) -> dict:
    out: dict = {"key_score": None, "chord_majmin": None, "note_f1": None}
    if case.get("key"):
        out["key_score"] = mir_eval.key.weighted_score(case["key"], heard.key.label)
    if case.get("chords") and heard.chords:
        ref_int = np.array([c[:2] for c in case["chords"]], dtype=float)
        est_int = np.array([[c.start_seconds, c.end_seconds] for c in heard.chords])
        scores = mir_eval.chord.evaluate(ref_int, [c[2] for c in case["chords"]], est_int,
                                         [c.label for c in heard.chords])
        out["chord_majmin"] = scores["majmin"]
    if case.get("notes") and heard.notes:
        ref = np.array(case["notes"], dtype=float)
        est_int = np.array([[n.start_seconds, n.end_seconds] for n in heard.notes])
        est_hz = mir_eval.util.midi_to_hz(np.array([n.pitch_midi for n in heard.notes], dtype=float))
        out["note_f1"] = mir_eval.transcription.precision_recall_f1_overlap(
            ref[:, :2], mir_eval.util.midi_to_hz(ref[:, 2]), est_int, est_hz, offset_ratio=None)[2]
    return out


def _band_scores(case: dict, heard: Analysis, band: Arrangement) -> dict:
    out: dict = {"band_beat_amlt": None, "chord_tone_ratio": None, "clash_ratio": None}
    if case.get("beats_seconds"):
        played = np.array(band.form.grid.beats_seconds)
        played = played[(played >= 0) & (played <= heard.duration_seconds)]
        out["band_beat_amlt"] = mir_eval.beat.continuity(np.array(case["beats_seconds"]), played)[3]
    melody = case.get("notes") or [[n.start_seconds, n.end_seconds, n.pitch_midi] for n in heard.notes]
    on = total = clash = long_total = 0.0
    for start, end, pitch in melody:
        span = next((c for c in band.form.chords if c.start_seconds <= (start + end) / 2 < c.end_seconds), None)
        if span is None or span.chord is None:
            continue
        duration = end - start
        pcs = span.chord.pitch_classes
        total += duration
        on += duration * (int(pitch) % 12 in pcs)
        if duration >= LONG_NOTE_SECONDS:
            long_total += duration
            clash += duration * any((int(pitch) - pc) % 12 == 1 for pc in pcs)
    out["chord_tone_ratio"] = on / total if total else None
    out["clash_ratio"] = clash / long_total if long_total else None
    first_note = heard.first_note_seconds
    bar = heard.grid.beats_per_bar * 60 / heard.grid.tempo_bpm
    out["covers_input"] = float(band.start_seconds <= min(0.0, first_note - 0.98 * bar)
                                and band.end_seconds >= heard.duration_seconds)
    return out


def format_table(result: dict) -> str:
    columns = ("id", *METRICS)
    short = {"tempo_ok": "tempo", "beat_f": "beatF", "beat_amlt": "AMLt", "downbeat_f": "dbF",
             "key_score": "key", "chord_majmin": "majmin", "note_f1": "noteF1", "band_beat_amlt": "bandAMLt",
             "chord_tone_ratio": "onChord", "clash_ratio": "clash", "covers_input": "covers",
             "analysis_seconds": "sec"}
    header = f"{'case':28s}" + "".join(f"{short[c]:>9s}" for c in columns[1:])
    lines = [header]
    for row in [*result["cases"], {"id": "MEAN", **result["mean"]}]:
        cells = "".join(f"{'-' if row.get(c) is None else format(row[c], '.2f'):>9s}" for c in columns[1:])
        lines.append(f"{row['id'][:28]:28s}{cells}")
    return "\n".join(lines)
