"""The `sideman` command: analyze, add, render, eval, serve.

    sideman analyze voice.wav --json
    sideman add voice.wav --tags "pop, piano" --out out/
    sideman render --from out/manifest.json --tempo 92 --key "F major"
    sideman serve
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from sideman.errors import InvalidInput, SidemanError

_EXAMPLES = """examples:
  sideman analyze voice.wav --json
  sideman add voice.wav --tags "relaxing, piano, soothing" --negative-tags "heavy metal" --out out/
  sideman add hum.m4a --tags "jazz" --model V5 --seed 7 --variations 1 --out jazz/
  sideman render --from out/manifest.json --tempo 92 --key "F major" --chords chords.txt
  sideman serve --port 8000
"""


_ANALYZE_EXAMPLES = """examples:
  sideman analyze voice.wav                   a readable summary
  sideman analyze voice.wav --json            the JSON object of shared CLI.md
  sideman analyze voice.wav --plot voice.png  the summary, and a picture of what was heard
"""

_RENDER_EXAMPLES = """examples:
  sideman render --from out/manifest.json --tempo 92 --key "F major"
  sideman render --from out/ --meter 3/4 --chords my-chords.txt --variations 1
  sideman render --from out/manifest.json --tags "jazz, upright bass" --out jazz/
"""

_ADD_EXAMPLES = """examples:
  sideman add voice.wav --tags "pop, piano" --out out/
  sideman add voice.wav --tags "relaxing, piano, soothing" --negative-tags "heavy metal" --out out/
  sideman add hum.m4a --tags "jazz, upright bass" --model V5 --seed 7 --variations 1 --out jazz/
  sideman add voice.wav --tags "folk" --tempo 92 --key "D major" --style-weight 0.8 --out folk/
  sideman add voice.wav --tags "pop" --meter 3/4 --chords chords.txt --out waltz/
  sideman add voice.wav --tags "rock" --out rock/ --json > rock.json
"""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except InvalidInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except SidemanError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a missing file, a full disk: say so, no traceback
        print(f"error: {error.strerror or error}"
              f"{f': {error.filename}' if error.filename else ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sideman", description="Add a band to a voice: backing tracks that follow the singer.",
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each stage does")
    sub = parser.add_subparsers(dest="command", required=True)

    analyze = sub.add_parser("analyze", help="what sideman hears in a recording",
                             description="Tempo, meter, key, melody, chords and form of one recording.",
                             epilog=_ANALYZE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    analyze.add_argument("audio", type=Path, help="wav, mp3, flac, ogg, m4a ...")
    analyze.add_argument("--json", action="store_true", help="one JSON object on stdout (shared CLI.md)")
    analyze.add_argument("--plot", type=Path, default=None, metavar="PNG",
                         help="also save a picture: waveform, f0 and notes, beats, chords "
                              "(needs matplotlib: pip install 'sideman[plot]')")
    analyze.set_defaults(run=_analyze)

    add = sub.add_parser("add", help="add backing tracks to a recording",
                         description="Add a band to a recording: song and instrumental MP3s, WAV, "
                                     "stems, MIDI and the chord chart per take. Progress goes to "
                                     "stderr, the closing table (or --json) to stdout.",
                         epilog=_ADD_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("audio", type=Path)
    add.add_argument("--tags", required=True, help='style tags, comma separated: "relaxing, piano"')
    add.add_argument("--negative-tags", default="", help='what must not be heard: "heavy metal, fast drums"')
    add.add_argument("--out", type=Path, required=True, help="output folder (manifest.json + v1/, v2/ ...)")
    add.add_argument("--title", default="")
    add.add_argument("--model", default="V4_5PLUS", choices=("V4_5PLUS", "V5"))
    add.add_argument("--vocal-gender", choices=("m", "f"), default=None)
    add.add_argument("--style-weight", type=_unit, default=0.5, help="0..1 (default 0.5)")
    add.add_argument("--weirdness", type=_unit, default=0.3, help="0..1 (default 0.3)")
    add.add_argument("--audio-weight", type=_unit, default=0.7, help="0..1 (default 0.7)")
    add.add_argument("--seed", type=int, default=None, help="same seed, same input -> same MIDI")
    add.add_argument("--variations", type=int, default=2, help="1..4 (default 2)")
    _override_options(add)
    add.add_argument("--json", action="store_true", help="print the manifest as JSON on stdout")
    add.set_defaults(run=_add)

    render = sub.add_parser("render", help="play a run again with corrections, without listening again",
                            description="Re-arrange and re-render a run of `sideman add` from its stored "
                                        "analysis: nothing is decoded or listened to again. Title, tags, knobs "
                                        "and seed are that run's unless given; the overrides given are laid "
                                        "over the ones it had.",
                            epilog=_RENDER_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    render.add_argument("--from", dest="source", type=Path, required=True, metavar="MANIFEST",
                        help="the run's manifest.json (or its folder)")
    render.add_argument("--out", type=Path, default=None,
                        help="output folder (default: the run's own folder, whose takes are replaced)")
    render.add_argument("--tags", default=None)
    render.add_argument("--negative-tags", default=None)
    render.add_argument("--title", default=None)
    render.add_argument("--model", default=None, choices=("V4_5PLUS", "V5"))
    render.add_argument("--vocal-gender", choices=("m", "f"), default=None)
    render.add_argument("--style-weight", type=_unit, default=None)
    render.add_argument("--weirdness", type=_unit, default=None)
    render.add_argument("--audio-weight", type=_unit, default=None)
    render.add_argument("--seed", type=int, default=None, help="default: the run's seed (the same band)")
    render.add_argument("--variations", type=int, default=None, help="1..4 (default: as many as the run had)")
    _override_options(render)
    render.add_argument("--json", action="store_true", help="print the manifest as JSON on stdout")
    render.set_defaults(run=_render)

    evaluate = sub.add_parser("eval", help="score the analysis and the band on an eval folder",
                              epilog="example:\n  sideman eval eval/dev --json",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("folder", type=Path, help="a folder of cases (audio + JSON, shared eval/FORMAT.md)")
    evaluate.add_argument("--tags", default="pop, piano", help="the style the band plays in")
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--arrangement", action="store_true",
                          help="score the band's form, repetition and two takes instead (sideman.arrangement_eval)")
    evaluate.add_argument("--mix", action="store_true",
                          help="measure the band's mix per variation instead: stem spread, featured gap, "
                               "spectrum shares, side/mid, voice over band (sideman.mix_eval)")
    evaluate.add_argument("--reference", type=Path, default=None, metavar="DIR",
                          help="with --mix: also measure real stems (NAME-drums/bass/other/vocals.wav) in DIR")
    evaluate.add_argument("--limit", type=int, default=None, help="with --mix: at most this many cases")
    evaluate.add_argument("--plots", type=Path, default=None, metavar="DIR",
                          help="with --mix: spectrogram PNGs of each song and each real mixture (needs matplotlib)")
    evaluate.set_defaults(run=_eval)

    serve = sub.add_parser("serve", help="run the HTTP API and web page",
                           epilog="example:\n  sideman serve --host 127.0.0.1 --port 8000",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--data-dir", type=Path, default=None)
    serve.set_defaults(run=_serve)

    worker = sub.add_parser("worker", help="run Dramatiq workers that take tasks from Redis",
                            epilog="example:\n  SIDEMAN_REDIS_URL=redis://127.0.0.1:6379/0 "
                                   "sideman worker --processes 2",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    worker.add_argument("--processes", type=int, default=None, help="default: one per core")
    worker.add_argument("--pin-cpus", action="store_true", default=None,
                        help="one core per worker process (a dedicated worker machine)")
    worker.add_argument("--data-dir", type=Path, default=None)
    worker.set_defaults(run=_worker)

    keys = sub.add_parser("keys", help="create, list and revoke API keys",
                          epilog='examples:\n  sideman keys create --name "my app"\n'
                                 "  sideman keys list\n  sideman keys revoke 3f9c2a1b04de",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    keys.add_argument("--data-dir", type=Path, default=None, help="where the database is")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_create = keys_sub.add_parser("create", help="make a key and its webhook secret (shown once)")
    keys_create.add_argument("--name", default="", help="a label to recognise the key by")
    keys_create.add_argument("--json", action="store_true")
    keys_create.set_defaults(run=_keys_create)
    keys_list = keys_sub.add_parser("list", help="the keys (ids, names, dates; never the key)")
    keys_list.add_argument("--all", action="store_true", help="revoked keys too")
    keys_list.add_argument("--json", action="store_true")
    keys_list.set_defaults(run=_keys_list)
    keys_revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    keys_revoke.add_argument("key_id")
    keys_revoke.set_defaults(run=_keys_revoke)
    return parser


def _override_options(parser: argparse.ArgumentParser) -> None:
    """The singer's overrides (sideman.overrides), the same for add and render."""
    group = parser.add_argument_group("the singer's word (override what is heard)")
    group.add_argument("--tempo", "--bpm", dest="bpm", type=float, default=None, metavar="BPM",
                       help="the tempo, 30..300 counted beats per minute")
    group.add_argument("--taps", default=None, metavar="SECONDS",
                       help='beat times tapped along, "0.52,1.18,1.83,2.49,..." (at least 4): the grid itself')
    group.add_argument("--meter", default=None, help="2/4, 3/4, 4/4, 5/4, 6/4, 7/4, 6/8, 9/8 or 12/8")
    group.add_argument("--key", default=None, help='the key, e.g. "F major", "Eb minor", "F#m"')
    group.add_argument("--tuning", type=float, default=None, metavar="CENTS",
                       help="the voice's offset from A440, -50..50 cents")
    group.add_argument("--downbeat", type=float, default=None, metavar="SECONDS",
                       help="a bar line at this time (with --tempo: a metronomic grid from here)")
    group.add_argument("--chords", type=Path, default=None, metavar="FILE",
                       help="a chord chart: chords.txt lead sheet (bar 1 = where the voice comes in) "
                            "or chords.json")


def _overrides_of(args: argparse.Namespace) -> dict:
    """GenerateRequest override fields from the options (InvalidField names the option)."""
    from sideman.overrides import parse_overrides, read_chart_file

    params = {"tempo_bpm": "--tempo", "tap_times_seconds": "--taps", "meter": "--meter", "key": "--key",
              "tuning_cents": "--tuning", "first_downbeat_seconds": "--downbeat", "chords": "--chords"}
    chart = read_chart_file(args.chords, param="--chords") if args.chords is not None else None
    checked = parse_overrides(tempo_bpm=args.bpm, tap_times_seconds=args.taps, meter=args.meter, key=args.key,
                              tuning_cents=args.tuning, first_downbeat_seconds=args.downbeat, chords=chart,
                              params=params)
    return {"bpm": checked.tempo_bpm, "tap_times_seconds": checked.tap_times_seconds, "meter": checked.meter,
            "key": checked.key.label if checked.key else None, "tuning_cents": checked.tuning_cents,
            "first_downbeat_seconds": checked.first_downbeat_seconds, "chords": checked.chart}


def _unit(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {value}")
    return value


def _settings(**overrides):
    from sideman.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _analyze(args: argparse.Namespace) -> int:
    from sideman.analysis import analyze
    from sideman.analysis.pitch import PITCH_SAMPLE_RATE_HZ, track_pitch
    from sideman.cli_output import analysis_summary, require_plotting, save_analysis_plot
    from sideman.ingest import load

    if args.plot is not None:
        require_plotting()  # fail before the work, with how to install it
    settings = _settings()
    audio = load(args.audio, sample_rate_hz=PITCH_SAMPLE_RATE_HZ, min_duration_seconds=settings.min_duration_seconds,
                 max_duration_seconds=settings.max_duration_seconds,
                 silence_threshold_dbfs=settings.silence_threshold_dbfs)
    result = analyze(audio).to_json()
    if args.plot is not None:
        track = track_pitch(audio.samples, sample_rate_hz=PITCH_SAMPLE_RATE_HZ)  # the f0 curve to draw
        save_analysis_plot(args.plot, samples=audio.samples, sample_rate_hz=PITCH_SAMPLE_RATE_HZ, result=result,
                           title=args.audio.name,
                           f0_times_seconds=track.times_seconds,
                           f0_hz=[f if v else 0.0 for f, v in zip(track.f0_hz, track.voiced, strict=True)])
    if args.json:
        print(json.dumps(result))
    else:
        print(analysis_summary(result, name=args.audio.name))
    if args.plot is not None:
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0


def _add(args: argparse.Namespace) -> int:
    from sideman.cli_output import StageProgress, add_table
    from sideman.pipeline import GenerateRequest, generate

    settings = _settings()
    request = GenerateRequest(
        audio_path=args.audio, title=args.title, tags=args.tags, negative_tags=args.negative_tags,
        model=args.model, vocal_gender=args.vocal_gender, style_weight=args.style_weight,
        weirdness_constraint=args.weirdness, audio_weight=args.audio_weight, seed=args.seed,
        variations=args.variations, **_overrides_of(args),
    )
    progress = StageProgress(sys.stderr, variations=args.variations)
    try:
        manifest = generate(request, out_dir=args.out, settings=settings, on_stage=progress)
    finally:
        progress.close()
    print(json.dumps(manifest) if args.json else add_table(manifest, out_dir=args.out))
    return 0


def _render(args: argparse.Namespace) -> int:
    import shutil

    from sideman.cli_output import StageProgress, add_table
    from sideman.pipeline import generate, rerender_request

    source = args.source / "manifest.json" if args.source.is_dir() else args.source
    out = args.out if args.out is not None else source.parent
    request = rerender_request(
        source, title=args.title, tags=args.tags, negative_tags=args.negative_tags, model=args.model,
        vocal_gender=args.vocal_gender, style_weight=args.style_weight, weirdness_constraint=args.weirdness,
        audio_weight=args.audio_weight, seed=args.seed, variations=args.variations, **_overrides_of(args),
    )
    progress = StageProgress(sys.stderr, variations=request.variations)
    try:
        manifest = generate(request, out_dir=out, settings=_settings(), on_stage=progress)
    finally:
        progress.close()
    # takes of the run that this one did not replace would be stale beside the new manifest
    for folder in out.glob("v[0-9]*"):
        if folder.is_dir() and folder.name[1:].isdigit() and int(folder.name[1:]) > request.variations:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(manifest) if args.json else add_table(manifest, out_dir=out))
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.mix:
        from sideman.mix_eval import evaluate_mix_folder, format_mix_table

        figures = evaluate_mix_folder(args.folder, limit=args.limit, reference=args.reference, plots=args.plots)
        print(json.dumps(figures) if args.json else format_mix_table(figures))
        return 0
    if args.arrangement:
        from sideman.arrangement_eval import evaluate_arrangement_folder, format_arrangement_table

        figures = evaluate_arrangement_folder(args.folder, tags=args.tags)
        print(json.dumps(figures) if args.json else format_arrangement_table(figures))
        return 0
    from sideman.evaluation import evaluate_folder, format_table

    result = evaluate_folder(args.folder, tags=args.tags)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from sideman.api import serve

    serve(_settings(host=args.host, port=args.port, data_dir=args.data_dir))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from sideman.worker import run_workers

    return run_workers(_settings(data_dir=args.data_dir), processes=args.processes,
                       pin_cpus=args.pin_cpus)


def _keys_create(args: argparse.Namespace) -> int:
    from sideman.tasks import create_key

    created = create_key(_settings(data_dir=args.data_dir), name=args.name)
    if args.json:
        print(json.dumps({"key": created.key, "webhook_secret": created.webhook_secret}))
        return 0
    print(f"API key:        {created.key}")
    print(f"webhook secret: {created.webhook_secret}")
    print("Both are shown this once; keep them somewhere safe.", file=sys.stderr)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from sideman.tasks import list_keys

    found = list_keys(_settings(data_dir=args.data_dir), include_revoked=args.all)
    if args.json:
        print(json.dumps([{"id": k.id, "name": k.name,
                           "created_at": k.created_at.isoformat() if k.created_at else None,
                           "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}
                          for k in found]))
        return 0
    for k in found:
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        created = f"{k.created_at:%Y-%m-%d %H:%M}" if k.created_at else "?"
        print(f"{k.id}  {created}  {state:18}  {k.name}")
    if not found:
        print("no keys", file=sys.stderr)
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from sideman.tasks import revoke_key

    if revoke_key(_settings(data_dir=args.data_dir), args.key_id):
        print(f"revoked {args.key_id}")
        return 0
    print(f"error: no active key with id {args.key_id!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
