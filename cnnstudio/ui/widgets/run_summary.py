"""The Runs page's summary panel text: one run's results and settings, or several runs side by side.

Plain rendering of what core.run_compare read and decided (RunDetail, RunsComparison) to the HTML a
QTextBrowser shows. Setting names never wrap: a narrow panel broke them into fragments ("Augmentatio /
n"); the panel scrolls sideways instead. From WIDE_FROM runs the comparison has a row per run (a column
per run breaks names into letters) with only the differing settings as columns, the shared ones said
once above.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from cnnstudio.core.run_compare import RunDetail, RunsComparison, SettingRow
from cnnstudio.core.runs import run_label
from cnnstudio.core.text import plural
from cnnstudio.ui.widgets.runs_table import status_text

TITLE_CELL = "color:gray; white-space:nowrap; padding-right:6px"
CELL = "padding:2px 6px; white-space:nowrap;"
DIFFERS = "background: rgba(230,126,34,0.18);"
WIDE_FROM = 4  # from this many runs, the comparison table has a row per run instead of a column
NOTHING_HTML = "<p style='color: gray'>Select a run to see its curves and settings here.</p>"


def run_html(detail: RunDetail) -> str:
    """One run: why it is damaged, its status, its results and settings, its checkpoints and folder."""
    e = html.escape
    run, rows = detail.run, []
    if detail.problem:
        rows.append(f"<p style='color:#c0392b'><b>This run folder is damaged:</b> {e(detail.problem)}</p>")
    status = e(status_text(run.status, run))
    rows.append(f"<h3 style='margin-bottom:2px'>{e(run.name)}</h3><p style='margin-top:0'>{status}"
                + (f": {e(run.message)}" if run.message else "") + "</p>")
    body = "".join(f"<tr><td style='padding-right:10px; color:gray'>{e(k)}</td><td>{e(v)}</td></tr>"
                   for k, v in detail.settings)
    rows.append(f"<table>{body}</table>")
    files = ", ".join(name for name, ok in (("best.pt", run.has_best), ("last.pt", run.has_last)) if ok)
    rows.append(f"<p style='color:gray'>Checkpoints: {e(files) or 'none'}<br>{e(run.path)}</p>")
    return "".join(rows)


def compare_title(shown: int, filtered: int = 0) -> str:
    """What the comparison holds: "Comparing 3 runs", "Comparing 2 of 3 selected runs (1 hidden by the filter)"."""
    if filtered:
        return f"Comparing {shown} of {shown + filtered} selected runs ({filtered} hidden by the filter)"
    return f"Comparing {plural(shown, 'run')}"


def compare_html(comparison: RunsComparison, colors: dict[str, tuple[str, str]] | None = None,
                 filtered: int = 0) -> str:
    """The compared runs' results and settings, highlighting what differs. colors: run name -> (label,
    colour) of its curves, for a swatch beside each run. filtered: selected runs the list's filter hides,
    left out of `comparison` (run_compare.restrict)."""
    e = html.escape
    colors = colors or {}
    runs = comparison.runs
    if not runs and filtered:
        return "<p style='color: gray'>No selected run matches the filter.</p>"
    out = [f"<h3>{e(compare_title(len(runs), filtered))}</h3>"]
    if comparison.skipped:
        out.append(f"<p style='color:#c0392b'>Not shown (damaged): {e(', '.join(comparison.skipped))}</p>")
    labels = []
    for r in runs:
        label, color = colors.get(r.name, (run_label(r), ""))
        swatch = f"<span style='color:{color}'>&#9644;</span> " if color else ""
        labels.append(f"{swatch}{e(label)}")
    if len(runs) >= WIDE_FROM:
        out.append(_runs_as_rows(labels, comparison.results, comparison.settings))
        return "".join(out)
    lines = ["<tr><td></td>" + "".join(f"<th style='{CELL}' align='left'>{label}</th>" for label in labels)
             + "</tr>"]
    for row in comparison.results:
        lines.append(f"<tr><td style='{TITLE_CELL}'>{e(row.title)}</td>"
                     + "".join(f"<td style='{CELL}'><b>{e(v)}</b></td>" for v in row.values) + "</tr>")
    for row in comparison.settings:
        style = DIFFERS if row.differs else ""
        lines.append(f"<tr style='{style}'><td style='{TITLE_CELL}'>{e(row.title)}</td>"
                     + "".join(f"<td style='{CELL}'>{e(v)}</td>" for v in row.values) + "</tr>")
    out.append("<table cellspacing='0'>" + "".join(lines) + "</table>")
    out.append("<p style='color:gray'>Highlighted rows differ between the runs. Solid lines: validation; "
               "dashed: training. Hover a chart to read every run's value.</p>")
    return "".join(out)


def _runs_as_rows(labels: list[str], results: Sequence[SettingRow], settings: Sequence[SettingRow]) -> str:
    e = html.escape
    same = [f"{e(row.title)} <b>{e(row.values[0])}</b>" for row in settings
            if not row.differs and row.values and row.values[0]]
    differing = [row for row in settings if row.differs]
    head = "".join(f"<th style='{CELL}' align='left'>{e(row.title)}</th>" for row in results)
    head += "".join(f"<th style='{CELL} {DIFFERS}' align='left'>{e(row.title)}</th>" for row in differing)
    lines = [f"<tr><th></th>{head}</tr>"]
    for i, label in enumerate(labels):
        cells = "".join(f"<td style='{CELL}'><b>{e(row.values[i])}</b></td>" for row in results)
        cells += "".join(f"<td style='{CELL} {DIFFERS}'>{e(row.values[i])}</td>" for row in differing)
        lines.append(f"<tr><td style='{CELL}'>{label}</td>{cells}</tr>")
    parts = []
    if same:
        parts.append("<p><span style='color:gray'>The same in every run:</span> " + " &middot; ".join(same)
                     + "</p>")
    parts.append("<table cellspacing='0'>" + "".join(lines) + "</table>")
    parts.append("<p style='color:gray'>Highlighted columns are the settings that differ. Solid lines: "
                 "validation; dashed: training. Hover a chart to read every run's value.</p>")
    return "".join(parts)
