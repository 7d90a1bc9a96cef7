"""The `sideman` command: analyze, add, eval, serve.

    sideman analyze voice.wav --json
    sideman add voice.wav --tags "pop, piano" --out out/
    sideman serve
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from sideman.errors import InvalidInput, SidemanError

_EXAMPLES = """examples:
  sideman analyze voice.wav --json
  sideman add voice.wav --tags "relaxing, piano, soothing" --negative-tags "heavy metal" --out out/
  sideman add hum.m4a --tags "jazz" --model V5 --seed 7 --variations 1 --out jazz/
  sideman serve --port 8000
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
                             epilog="example:\n  sideman analyze voice.wav --json",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    analyze.add_argument("audio", type=Path, help="wav, mp3, flac, ogg, m4a ...")
    analyze.add_argument("--json", action="store_true", help="one JSON object on stdout (shared CLI.md)")
    analyze.set_defaults(run=_analyze)

    add = sub.add_parser("add", help="add backing tracks to a recording",
                         epilog='example:\n  sideman add voice.wav --tags "pop, piano" --out out/',
                         formatter_class=argparse.RawDescriptionHelpFormatter)
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
    add.add_argument("--bpm", type=float, default=None, help="override the tempo heard")
    add.add_argument("--key", default=None, help='override the key heard, e.g. "E major"')
    add.add_argument("--json", action="store_true", help="print the manifest as JSON on stdout")
    add.set_defaults(run=_add)

    evaluate = sub.add_parser("eval", help="score the analysis and the band on an eval folder",
                              epilog="example:\n  sideman eval ../shared/eval/dev --json",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("folder", type=Path, help="a folder of cases (audio + JSON, shared eval/FORMAT.md)")
    evaluate.add_argument("--tags", default="pop, piano", help="the style the band plays in")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(run=_eval)

    serve = sub.add_parser("serve", help="run the HTTP API and web page",
                           epilog="example:\n  sideman serve --host 127.0.0.1 --port 8000",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--data-dir", type=Path, default=None)
    serve.set_defaults(run=_serve)
    return parser


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
    from sideman.ingest import load

    settings = _settings()
    audio = load(args.audio, sample_rate_hz=16000, min_duration_seconds=settings.min_duration_seconds,
                 max_duration_seconds=settings.max_duration_seconds,
                 silence_threshold_dbfs=settings.silence_threshold_dbfs)
    result = analyze(audio).to_json()
    if args.json:
        print(json.dumps(result))
        return 0
    chords = " ".join(c["label"] for c in result["chords"][:16])
    print(f"{args.audio.name}: {result['duration_seconds']:.1f} s")
    print(f"  tempo   {result['tempo_bpm']:.1f} bpm, meter {result['meter']}, {len(result['beats_seconds'])} beats")
    print(f"  key     {result['key']}")
    print(f"  notes   {len(result['notes'])}, range MIDI {result['vocal_range_midi'][0]}-{result['vocal_range_midi'][1]}")
    print(f"  chords  {chords}{' ...' if len(result['chords']) > 16 else ''}")
    print(f"  form    {' '.join(s['label'] for s in result['sections'])}")
    return 0


def _add(args: argparse.Namespace) -> int:
    from sideman.pipeline import GenerateRequest, StageEvent, generate

    settings = _settings()
    request = GenerateRequest(
        audio_path=args.audio, title=args.title, tags=args.tags, negative_tags=args.negative_tags,
        model=args.model, vocal_gender=args.vocal_gender, style_weight=args.style_weight,
        weirdness_constraint=args.weirdness, audio_weight=args.audio_weight, seed=args.seed,
        variations=args.variations, bpm=args.bpm, key=args.key,
    )
    started = time.perf_counter()

    def progress(event: StageEvent) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {event.progress:3d}% {event.stage}", file=sys.stderr)

    manifest = generate(request, out_dir=args.out, settings=settings, on_stage=progress)
    if args.json:
        print(json.dumps(manifest))
        return 0
    a = manifest["analysis"]
    print(f"{a['tempo_bpm']:.1f} bpm {a['meter']}, {a['key']}; {len(manifest['variations'])} variation(s) in {args.out}/")
    for v in manifest["variations"]:
        names = ", ".join(i["name"] for i in v["instruments"])
        print(f"  v{v['variation']}: {names}; {v['loudness_lufs']:.1f} LUFS, {v['true_peak_dbtp']:.1f} dBTP -> {v['files']['song_mp3']}")
    print(f"manifest: {args.out / 'manifest.json'}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from sideman.evaluation import evaluate_folder, format_table

    result = evaluate_folder(args.folder, tags=args.tags)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from sideman.api import serve

    serve(_settings(host=args.host, port=args.port, data_dir=args.data_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
