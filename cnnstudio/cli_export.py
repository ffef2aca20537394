"""`cnnstudio export`: a checkpoint as ONNX (optionally INT8), TorchScript or a web page, checked against
PyTorch, with its deployment report (core/export; cli.py registers the command)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from cnnstudio.core.text import printable


def add_parser(sub: Any, positive_int: Any) -> None:
    p = sub.add_parser("export", help="export a checkpoint as ONNX, TorchScript or a web page, checked against "
                       "PyTorch, with a deployment report (size, speed, accuracy of each format)")
    p.add_argument("--checkpoint", required=True, metavar="C")
    p.add_argument("--format", choices=["onnx", "torchscript", "web"], default="onnx",
                   help="web: a folder with index.html that runs the model in any browser, offline")
    p.add_argument("--int8", action="store_true", help="ONNX only: INT8 static quantization calibrated on "
                   "training images, with the accuracy before and after")
    p.add_argument("--out", metavar="PATH", help="file to write (default: beside the checkpoint); an existing "
                   "file is replaced only if it is an earlier export. With --format web: the folder to write "
                   "(new, empty, or an earlier web export)")
    p.add_argument("--bundle", metavar="DIR", help="ONNX only: also write a torch-free predictor (model.onnx, "
                   "labels, predict.py) into DIR, a new or empty folder or an earlier bundle")
    p.add_argument("--samples", type=positive_int, metavar="N", help="web only: test pictures put in the page's "
                   "samples/ folder (default 12, spread over the classes)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out that is not an earlier "
                   "export, or write the bundle into a folder that holds other files (never the checkpoint)")
    p.add_argument("--dataset", metavar="D", help="test images for the parity check (default: the checkpoint's)")
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--json", action="store_true", help="print one JSON object: the result, its parity check and "
                   "its deployment report")


def cmd_export(args: Any, print_json: Any, progress_bar: Any) -> int:
    from cnnstudio.core.export import export_model

    bar = progress_bar("exporting") if sys.stderr.isatty() else None
    try:
        result = export_model(args.checkpoint, args.format, args.out, int8=args.int8, bundle=args.bundle,
                              overwrite=args.overwrite, samples=args.samples,
                              dataset=None if not args.dataset else _load_named(args.dataset, args.data_dir),
                              data_dir=args.data_dir,
                              progress=(lambda fraction, text: bar.draw(fraction, text)) if bar else None)
    finally:
        if bar:  # closed before a refusal is printed, so the refusal stays on a line of its own
            bar.close()
    if args.json:
        print_json(result.to_dict())
    else:
        # One line, whatever was exported; the report's table is in the card (and in --json).
        print(printable(result.message + (f"; deployment report: {result.card}" if result.card else "")))
        for note in result.notes:
            print(printable(note))
        if result.int8 is not None and result.int8.drop > 0.01:
            print(f"warning: INT8 costs {result.int8.drop:.1%} of accuracy; consider the fp32 model")
        if result.bundle:
            print(printable(f"predictor bundle: {result.bundle} (python {Path(result.bundle) / 'predict.py'} IMAGE)"))
        if result.ok and result.format == "web":
            print(printable(f"web page: {result.path}/index.html (serve the folder: cd {result.path} && python -m "
                            "http.server, then open http://localhost:8000/)"))
    if not result.ok:
        print(f"cnnstudio: error: {printable(result.message)}", file=sys.stderr)
        return 1
    return 0


def _load_named(name: str, data_dir: str | None) -> Any:
    from cnnstudio.core.datasets import load_dataset

    return load_dataset(name, data_dir=Path(data_dir) if data_dir else None)
