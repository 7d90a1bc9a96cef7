"""`sideman eval DIR`: the analysis and the band's chart scored against an eval folder
(format: shared eval/FORMAT.md), with mir_eval wherever a standard metric exists.

Per case: tempo (within 4 %, allowing x2, x1/2, x3, x1/3), beat F-measure and AMLt,
downbeat F-measure, key weighted score and how a wrong key relates to the true one
(relative, parallel, fifth), chord majmin overlap, note F1 (50 ms onsets, 50 cents,
offsets ignored; each note at the pitch it is heard at, the singer's tuning included),
the error of the estimated tuning; and for the arrangement: beat AMLt of what the band
plays against the true beats, and its continuity CMLt over the sung span (an off-beat
band scores 0 there however steady it is), the share of melody time on a chord tone of
the chord the band plays, the share of long-note time that clashes (sung a semitone
above a sounding chord tone, both at the pitch they sound: the voice as sung, the band
at its tuning), and whether the band covers the whole input with an intro and an outro.

Real recordings may carry silver references (a case's `silver_evidence`, `truth` and
`key_confidence` say so): beats count only where the case marks them trusted, keys where
trusted or of high or medium confidence, notes only where annotated (not segmented from
an f0 curve).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import mir_eval
import numpy as np

from sideman.analysis import Analysis, analyze_track
from sideman.analysis.pitch import PitchTrack, track_pitch
from sideman.arrangement import Arrangement, Knobs, arrange
from sideman.ingest import decode
from sideman.style import style_from_tags

log = logging.getLogger(__name__)

TEMPO_TOLERANCE = 0.04
LONG_NOTE_SECONDS = 0.4
METRICS = ("tempo_ok", "beat_f", "beat_amlt", "downbeat_f", "meter_ok", "key_score", "chord_majmin", "note_f1",
           "tuning_error_cents", "band_beat_amlt", "band_beat_cmlt", "chord_tone_ratio", "clash_ratio",
           "default_clash_ratio",
           "covers_input", "analysis_seconds")
#: how a wrong key relates to the true one (mir_eval.key's classes)
KEY_RELATIONS = ("correct", "fifth", "relative", "parallel", "other")


def read_cases(folder: Path) -> list[dict]:
    """The cases of an eval folder (FORMAT.md: a JSON object naming its `audio`), by
    file name; other JSON files (an index) and unreadable ones are passed over."""
    cases = []
    for meta_path in sorted(folder.glob("*.json")):
        try:
            case = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(case, dict) and "audio" in case:
            cases.append(case)
    return cases


def column_means(rows: list[dict], columns, *, digits: int = 3) -> dict:  # noqa: ANN001 - any iterable of names
    """Per column, the mean of the rows that have a value (None where none has)."""
    mean = {}
    for column in columns:
        values = [r[column] for r in rows if r.get(column) is not None]
        mean[column] = round(float(np.mean(values)), digits) if values else None
    return mean


def chord_majmin(reference: list, spans) -> float:  # noqa: ANN001 - ChordSpan-like spans
    """mir_eval's majmin overlap of chord spans with reference [start, end, label] rows."""
    ref_int = np.array([c[:2] for c in reference], dtype=float)
    est_int = np.array([[c.start_seconds, c.end_seconds] for c in spans])
    scores = mir_eval.chord.evaluate(ref_int, [c[2] for c in reference], est_int, [c.label for c in spans])
    return float(scores["majmin"])


def evaluate_folder(folder: Path, *, tags: str = "pop, piano", seed: int = 1) -> dict:
    """Score every case of `folder`; returns {"cases": [...], "mean": {...}}."""
    cases = [evaluate_case(folder, case, tags=tags, seed=seed) for case in read_cases(folder)]
    mean = column_means(cases, METRICS)
    relations = [c["key_relation"] for c in cases if c.get("key_relation")]
    key_confusion = {r: relations.count(r) for r in KEY_RELATIONS}
    return {"folder": str(folder), "cases": cases, "mean": mean, "key_confusion": key_confusion}


def trusted_fields(case: dict) -> tuple[bool, bool, bool]:
    """(beats, key, notes) trusted as references: silver beats and keys only where the
    case's own checks passed, notes only where annotated (FORMAT.md, real-sung README)."""
    evidence = case.get("silver_evidence") or {}
    truth = case.get("truth") or {}
    beats = bool(case.get("beats_seconds")) and bool(evidence.get("beats_trusted", True))
    if "key_trusted" in evidence:
        key = bool(evidence["key_trusted"])
    else:
        key = case.get("key_confidence", "high") in ("high", "medium")
    notes = bool(case.get("notes")) and truth.get("notes", "annotated") == "annotated"
    return beats, bool(case.get("key")) and key, notes


def evaluate_case(folder: Path, case: dict, *, tags: str, seed: int) -> dict:
    audio = decode(folder / case["audio"], sample_rate_hz=16000)
    started = time.perf_counter()
    track = track_pitch(audio.samples, sample_rate_hz=16000)
    heard = analyze_track(track, duration_seconds=audio.duration_seconds)
    elapsed = time.perf_counter() - started
    band = arrange(heard, style_from_tags(tags), knobs=Knobs(weirdness_constraint=0.0, audio_weight=1.0), seed=seed)
    row: dict = {"id": case["id"], "kind": case.get("kind"), "analysis_seconds": round(elapsed, 3),
                 "tempo_bpm": round(heard.grid.tempo_bpm, 2), "meter": heard.grid.meter, "key": heard.key.label}
    row["tuning_cents"] = getattr(heard, "tuning_cents", 0.0)
    row.update(_rhythm_scores(case, heard))
    # the meter as written (from a score or a lead sheet): exact, 2/4 read as 4/4 is wrong
    row["meter_ok"] = float(heard.grid.meter == case["meter"]) if case.get("meter") else None
    row.update(_pitch_scores(case, heard))
    row.update(_band_scores(case, heard, band, track))
    # the same long notes against the band a user gets (the product's default knobs)
    default_band = arrange(heard, style_from_tags(tags), knobs=Knobs(), seed=seed)
    row["default_clash_ratio"] = _band_scores(case, heard, default_band, track)["clash_ratio"]
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}


def _rhythm_scores(case: dict, heard: Analysis) -> dict:
    out: dict = {"tempo_ok": None, "beat_f": None, "beat_amlt": None, "downbeat_f": None}
    # a tempo without beats (a loop's stated tempo) counts unless its beats were judged untrusted
    if case.get("tempo_bpm") and (case.get("silver_evidence") or {}).get("beats_trusted", True):
        ratio = heard.grid.tempo_bpm / case["tempo_bpm"]
        out["tempo_ok"] = float(any(abs(ratio / m - 1) <= TEMPO_TOLERANCE for m in (1, 2, 0.5, 3, 1 / 3)))
    if not trusted_fields(case)[0]:
        return out
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
    out: dict = {"key_score": None, "key_relation": None, "chord_majmin": None, "note_f1": None,
                 "tuning_error_cents": None}
    _, key_trusted, notes_trusted = trusted_fields(case)
    tuning = getattr(heard, "tuning_cents", 0.0)
    if key_trusted:
        out["key_score"] = mir_eval.key.weighted_score(case["key"], heard.key.label)
        out["key_relation"] = key_relation(case["key"], heard.key.label)
    if case.get("tuning_offset_semitones") is not None:
        # circular: a reference a semitone away plays the same pitches a key lower
        out["tuning_error_cents"] = abs((tuning - 100.0 * case["tuning_offset_semitones"] + 50.0) % 100.0 - 50.0)
    if case.get("chords") and heard.chords:
        out["chord_majmin"] = chord_majmin(case["chords"], heard.chords)
    if notes_trusted and heard.notes:
        ref = np.array(case["notes"], dtype=float)
        est_int = np.array([[n.start_seconds, n.end_seconds] for n in heard.notes])
        est_hz = mir_eval.util.midi_to_hz(np.array([n.pitch_midi for n in heard.notes], dtype=float) + tuning / 100)
        out["note_f1"] = mir_eval.transcription.precision_recall_f1_overlap(
            ref[:, :2], mir_eval.util.midi_to_hz(ref[:, 2]), est_int, est_hz, offset_ratio=None)[2]
    return out


def key_relation(reference: str, estimate: str) -> str:
    """How an estimated key relates to the reference: one of KEY_RELATIONS."""
    ref, est = (label.split() for label in (reference, estimate))
    ref_pc, est_pc = (mir_eval.key.KEY_TO_SEMITONE[k[0].lower()] for k in (ref, est))
    interval = (est_pc - ref_pc) % 12
    if ref[1] == est[1]:
        return "correct" if interval == 0 else "fifth" if interval in (5, 7) else "other"
    if interval == 0:
        return "parallel"
    relative = 9 if ref[1] == "major" else 3
    return "relative" if interval == relative else "other"


def sung_melody(case: dict, heard: Analysis, track: PitchTrack) -> list[tuple[float, float, float]]:
    """(start, end, pitch as sung in fractional MIDI) of the case's melody: its notes
    (the analysis's where it has none), each at the median pitch the recording holds
    over it. Annotated pitches are not used for this: rounded from an f0 curve, or
    quantized and biased by the annotation tool (SSVD: +0.02..+0.38 st), they would put
    a clash where the voice and the band agree."""
    notes = case.get("notes") or [[n.start_seconds, n.end_seconds, n.pitch_midi + heard.tuning_cents / 100]
                                  for n in heard.notes]
    voiced = track.confidence >= 0.7
    times, midi = track.times_seconds[voiced], 69.0 + 12.0 * np.log2(np.maximum(track.f0_hz[voiced], 1e-6) / 440.0)
    sung = []
    for start, end, pitch in notes:
        inside = midi[(times >= start) & (times < end)]
        sung.append((float(start), float(end), float(np.median(inside)) if len(inside) else float(pitch)))
    return sung


def _band_scores(case: dict, heard: Analysis, band: Arrangement, track: PitchTrack) -> dict:
    out: dict = {"band_beat_amlt": None, "band_beat_cmlt": None, "chord_tone_ratio": None, "clash_ratio": None}
    if trusted_fields(case)[0]:
        reference = np.array(case["beats_seconds"])
        played = np.array(band.form.grid.beats_seconds)
        played = played[(played >= 0) & (played <= heard.duration_seconds)]
        out["band_beat_amlt"] = mir_eval.beat.continuity(reference, played)[3]
        # over the voice: where a singer hears the band against what they sing
        start, end = heard.first_note_seconds - 0.5, heard.last_note_end_seconds + 0.5
        within = (reference >= start) & (reference <= end)
        if within.sum() >= 4:
            out["band_beat_cmlt"] = mir_eval.beat.continuity(
                reference[within], played[(played >= start) & (played <= end)])[1]
    band_tuning = getattr(band.score, "tuning_cents", 0.0) / 100
    on = total = clash = long_total = 0.0
    for start, end, pitch in sung_melody(case, heard, track):
        span = next((c for c in band.form.chords if c.start_seconds <= (start + end) / 2 < c.end_seconds), None)
        if span is None or span.chord is None:
            continue
        duration = end - start
        # semitones above each sounding chord tone, folded into -6..6
        above = [((pitch - pc - band_tuning + 6) % 12) - 6 for pc in span.chord.pitch_classes]
        total += duration
        on += duration * any(abs(a) < 0.5 for a in above)
        if duration >= LONG_NOTE_SECONDS:
            long_total += duration
            clash += duration * any(0.5 <= a < 1.5 for a in above)
    out["chord_tone_ratio"] = on / total if total else None
    out["clash_ratio"] = clash / long_total if long_total else None
    first_note = heard.first_note_seconds
    bar = heard.grid.beats_per_bar * 60 / heard.grid.tempo_bpm
    out["covers_input"] = float(band.start_seconds <= min(0.0, first_note - 0.98 * bar)
                                and band.end_seconds >= heard.duration_seconds)
    return out


def format_table(result: dict) -> str:
    columns = ("id", *METRICS)
    short = {"tempo_ok": "tempo", "beat_f": "beatF", "beat_amlt": "AMLt", "downbeat_f": "dbF", "meter_ok": "meter",
             "key_score": "key", "chord_majmin": "majmin", "note_f1": "noteF1", "tuning_error_cents": "tuneErr",
             "band_beat_amlt": "bandAMLt", "band_beat_cmlt": "bandCMLt", "chord_tone_ratio": "onChord",
             "clash_ratio": "clash", "default_clash_ratio": "clashDef", "covers_input": "covers",
             "analysis_seconds": "sec"}
    header = f"{'case':24s}" + "".join(f"{short[c]:>9s}" for c in columns[1:]) + "  heard"
    lines = [header]
    for row in [*result["cases"], {"id": "MEAN", **result["mean"]}]:
        cells = "".join(f"{'-' if row.get(c) is None else format(row[c], '.2f'):>9s}" for c in columns[1:])
        heard = (f"  {row['tempo_bpm']:.0f} {row['meter']} {row['key']} {row.get('tuning_cents', 0):+.0f}c"
                 if "tempo_bpm" in row else "")
        lines.append(f"{row['id'][:24]:24s}{cells}{heard}")
    confusion = result.get("key_confusion") or {}
    if sum(confusion.values()):
        lines.append("key: " + ", ".join(f"{k} {v}" for k, v in confusion.items()))
    return "\n".join(lines)
