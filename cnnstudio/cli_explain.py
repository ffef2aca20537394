"""`cnnstudio explain`: one picture explained by one attribution method (core/inspection; cli.py registers it)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from cnnstudio.core.text import printable

METHODS = ("saliency", "gradcam", "gradcam++", "scorecam", "layercam", "integrated-gradients", "smoothgrad",
           "occlusion")  # core/inspection/methods.py METHODS (not imported here: it imports torch)


def add_parser(sub: Any, non_negative_int: Any) -> None:
    p = sub.add_parser("explain", help="which pixels a model's decision follows, by one attribution method",
                       description="Explain one picture with a checkpoint: the heatmap of one attribution method "
                       "(--out: the overlay as a new PNG) and how faithful it is: the class's probability as the "
                       "most highlighted pixels are removed (deletion AUC: lower is more faithful) or added to a "
                       "black picture (insertion AUC: higher is more faithful).")
    p.add_argument("--checkpoint", required=True, metavar="C")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--method", required=True, choices=METHODS, metavar="M", help=", ".join(METHODS))
    p.add_argument("--class", dest="target", type=non_negative_int, metavar="K",
                   help="the class index to explain (default: the predicted class)")
    p.add_argument("--out", metavar="PNG", help="write the picture and its overlay into this new PNG file")
    p.add_argument("--json", action="store_true", help='print one JSON object: {"method", "class", "deletion_auc", '
                   '"insertion_auc", "seconds"}')


def cmd_explain(args: argparse.Namespace, print_json: Callable[[Any], None]) -> int:
    """`print_json` is cli.py's (one line of strict JSON): handed in, as cli.py imports this module."""
    from cnnstudio.core.inference import Predictor, open_image
    from cnnstudio.core.inspection.explain_file import check_png_path, explain_image, write_overlay

    if args.out:
        check_png_path(args.out)  # refused before the model is loaded
    predictor = Predictor(args.checkpoint)
    explained = explain_image(predictor, open_image(args.image, predictor.framing), args.method, args.target)
    if args.out:
        write_overlay(explained, args.out)
    if args.json:
        print_json(explained.to_dict())
    else:
        a, f = explained.attribution, explained.faithfulness
        print(printable(f"{a.title} for class {a.class_index} ({explained.class_name}): deletion AUC "
                        f"{f.deletion_auc:.3f} (lower is more faithful), insertion AUC {f.insertion_auc:.3f} "
                        f"(higher is more faithful), {a.seconds:.2f} s"))
    if args.out:
        print(printable(f"overlay: {args.out}"), file=sys.stderr)
    return 0
