"""The HTML page of a report: one self-contained file (inline CSS and script, images as data: URIs).

Top to bottom: the verdict (a clean run says so; otherwise how many rows fail), the counts by
implementation, status and cause, the table of the rows that are not `ok` (sorted by a click on a
header, filtered by one <select> per field, the initial filter read from the URL's hash, e.g.
`#implementation=mymod&cause=kernel_flip`), a heatmap of |difference| for each divergent row among
them (harness.reporting.heatmap, recomputed by harness.reporting.html_rows; the MAX_HEATMAPS worst),
the blind spots (harness.reporting.report.divergence_summary) and the coverage by family and rank
(harness.reporting.coverage) of the report's cases. Ids a browser test reads: each table row is
`tr.row` with `data-<field>` attributes and `hidden` when filtered out, `#shown-count` counts the
visible ones, `select#filter-<field>` are the filters, `img.heatmap` the maps, and once every map
has been decoded the body's `data-images-decoded` reads "k/n".
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from harness.computations.implementation import Implementation
from harness.probing.probes import op_rank
from harness.reporting.heatmap import data_uri, heatmap
from harness.reporting.html_rows import (
    Difference,
    blind_spot_records,
    load_report_cases,
    row_difference,
)
from harness.verdicts.records import FAILING_STATUSES

MAX_HEATMAPS = 200
FIELDS = ("implementation", "op", "rank", "dtype", "quantity", "layout", "cause")
COLUMNS = (
    ("case_id", "case", "text"),
    ("implementation", "implementation", "text"),
    ("variant", "variant", "text"),
    ("op", "operation", "text"),
    ("rank", "rank", "num"),
    ("dtype", "dtype", "text"),
    ("quantity", "quantity", "text"),
    ("layout", "layout", "text"),
    ("status", "status", "text"),
    ("cause", "cause", "text"),
    ("max_abs_diff", "max abs diff", "num"),
    ("message", "message", "text"),
)
MAX_MESSAGE = 240

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1300px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
.verdict{font-size:1.2em;padding:.5em .8em;border-radius:4px}
.clean{background:#e3f4e1;color:#1d5e20}.failing{background:#fbe3e3;color:#8a1c1c}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ddd;padding:2px 6px}
th{background:#f3f3f3;text-align:left}th.sortable{cursor:pointer}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.msg{min-width:18em;max-width:40em}.wide{overflow-x:auto;max-width:100%}
.controls label{margin-right:.8em;font-size:.85em}.note{color:#666;font-size:.9em}
.divergence{border:1px solid #ddd;margin:.8em 0;padding:.5em .8em}
.divergence img{image-rendering:pixelated;border:1px solid #999;vertical-align:top}
pre{font-size:.78em;background:#f7f7f7;padding:.5em;overflow-x:auto}
"""

SCRIPT = """
(function(){
var fields=%s;
var rows=Array.prototype.slice.call(document.querySelectorAll("tr.row"));
function sel(k){return document.getElementById("filter-"+k);}
function apply(){
  var n=0;
  rows.forEach(function(r){
    var show=fields.every(function(k){
      var s=sel(k);return !s||s.value===""||r.dataset[k]===s.value;});
    if(show){r.removeAttribute("hidden");n++;}else{r.setAttribute("hidden","");}
  });
  document.getElementById("shown-count").textContent=String(n);
}
function fromHash(){
  var text=location.hash.replace(/^#/,"");
  if(text.indexOf("=")<0){apply();return;}
  var params=new URLSearchParams(text);
  if(params.has("operation")&&!params.has("op")){params.set("op",params.get("operation"));}
  fields.forEach(function(k){
    var s=sel(k),v=params.get(k);if(!s){return;}
    if(v===null){s.value="";return;}
    var known=Array.prototype.some.call(s.options,function(o){return o.value===v;});
    if(!known){var o=document.createElement("option");o.value=v;o.textContent=v;s.appendChild(o);}
    s.value=v;
  });
  apply();
}
fields.forEach(function(k){var s=sel(k);if(s){s.addEventListener("change",function(){
  var p=fields.filter(function(f){return sel(f)&&sel(f).value!=="";}).map(function(f){
    return encodeURIComponent(f)+"="+encodeURIComponent(sel(f).value);});
  history.replaceState(null,"",p.length?"#"+p.join("&"):location.pathname);apply();});}});
window.addEventListener("hashchange",fromHash);
Array.prototype.forEach.call(document.querySelectorAll("th.sortable"),function(th){
  th.addEventListener("click",function(){
    var up=th.getAttribute("aria-sort")!=="ascending",col=th.cellIndex,num=th.dataset.type==="num";
    Array.prototype.forEach.call(th.parentNode.children,function(o){o.removeAttribute("aria-sort");});
    th.setAttribute("aria-sort",up?"ascending":"descending");
    var body=document.querySelector("#rows tbody");
    function key(r){var c=r.cells[col],v=c.dataset.value!==undefined?c.dataset.value:c.textContent;
      return num?parseFloat(v):v;}
    var sorted=rows.slice().sort(function(a,b){
      var x=key(a),y=key(b);
      if(num){if(isNaN(x))return isNaN(y)?0:1;if(isNaN(y))return -1;return up?x-y:y-x;}
      return up?String(x).localeCompare(String(y)):String(y).localeCompare(String(x));});
    sorted.forEach(function(r){body.appendChild(r);});
  });
});
fromHash();
var images=Array.prototype.slice.call(document.querySelectorAll("img.heatmap"));
Promise.all(images.map(function(i){
    return i.decode().then(function(){return 1;},function(){return 0;});}))
  .then(function(done){var k=done.reduce(function(a,b){return a+b;},0);
    document.body.dataset.imagesDecoded=k+"/"+images.length;});
})();
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def rank_of(op: str) -> str:
    try:
        return str(op_rank(str(op)))
    except ValueError:  # not an operation of a spatial rank
        return ""


def _fields(row: Mapping) -> dict[str, str]:
    values = {field: str(row.get(field, "") or "") for field in FIELDS if field != "rank"}
    values["rank"] = rank_of(row.get("op", ""))
    return values


def _number(value) -> str:
    return "" if value is None or value != value else f"{float(value):.4g}"


def verdict(frame) -> tuple[str, bool]:
    """The sentence at the top and whether the run is clean (no failing row)."""
    total = len(frame)
    failing = int(frame["status"].isin(FAILING_STATUSES).sum())
    not_ok = int((frame["status"] != "ok").sum())
    if failing:
        return f"{failing} of {total} rows fail ({not_ok} rows are not ok)", False
    if not not_ok:
        return f"All {total} rows ok: all expectations hold", True
    return f"No row fails: all expectations hold ({not_ok} of {total} rows are not ok)", True


def summary_table(frame) -> str:
    counts = (
        frame.assign(cause=frame["cause"].fillna(""))
        .groupby(["implementation", "status", "cause"], sort=True)
        .size()
    )
    lines = ['<table id="summary"><tr><th>implementation</th><th>status</th><th>cause</th>']
    lines[0] += "<th>rows</th></tr>"
    for (name, status, cause), count in counts.items():
        lines.append(
            f"<tr><td>{esc(name)}</td><td>{esc(status)}</td><td>{esc(cause)}</td>"
            f'<td class="num">{int(count)}</td></tr>'
        )
    return "\n".join([*lines, "</table>"])


def _filters(rows: list[Mapping]) -> str:
    parts = ['<div class="controls">']
    for field in FIELDS:
        values = sorted({_fields(row)[field] for row in rows})
        options = ['<option value="">(all)</option>']
        options += [f'<option value="{esc(v)}">{esc(v) or "(none)"}</option>' for v in values]
        label = "operation" if field == "op" else field
        parts.append(
            f'<label>{label} <select id="filter-{field}" class="filter" data-field="{field}">'
            + "".join(options)
            + "</select></label>"
        )
    return "".join([*parts, "</div>"])


def rows_table(rows: list[tuple[int, Mapping]], anchors: Mapping[int, str]) -> str:
    head = "".join(
        f'<th class="sortable" data-key="{key}" data-type="{kind}">{esc(title)}</th>'
        for key, title, kind in COLUMNS
    )
    top = f'<div class="wide"><table id="rows"><thead><tr>{head}<th>map</th></tr></thead>'
    lines = [top + "<tbody>"]
    for position, row in rows:
        fields = _fields(row)
        attributes = " ".join(f'data-{field}="{esc(fields[field])}"' for field in FIELDS)
        cells = []
        for key, _title, _kind in COLUMNS:
            if key == "rank":
                value = fields["rank"]
                cells.append(f'<td class="num" data-value="{esc(value)}">{esc(value)}</td>')
            elif key == "max_abs_diff":
                raw = row.get(key)
                value = "" if raw is None or raw != raw else repr(float(raw))
                text = _number(raw)
                cells.append(f'<td class="num" data-value="{esc(value)}">{esc(text)}</td>')
            elif key == "message":
                message = str(row.get(key, ""))
                short = message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + "..."
                full = f' title="{esc(message)}"' if short != message else ""
                cells.append(f'<td class="msg"{full}>{esc(short)}</td>')
            else:
                cells.append(f"<td>{esc(row.get(key, ''))}</td>")
        anchor = anchors.get(position, "")
        link = f'<a href="#{anchor}">map</a>' if anchor else ""
        lines.append(
            f'<tr class="row" data-case="{esc(row.get("case_id"))}" '
            f'data-variant="{esc(row.get("variant"))}" data-status="{esc(row.get("status"))}" '
            f"{attributes}>" + "".join(cells) + f"<td>{link}</td></tr>"
        )
    return "\n".join([*lines, "</tbody></table></div>"])


def _ratio(row: Mapping) -> float:
    diff, atol = row.get("max_abs_diff"), row.get("atol")
    if diff is None or diff != diff:
        return 0.0
    if not atol or atol != atol:
        return float(diff)
    ratio = float(diff) / float(atol)
    return ratio if ratio == ratio else 0.0


def _top(cells) -> str:
    import numpy as np

    finite = cells[np.isfinite(cells)]
    return f"{float(finite.max()):.4g}" if finite.size else "nothing finite"


def heatmap_block(anchor: str, row: Mapping, result: Difference | str) -> str:
    title = f"{row['case_id']} / {row['implementation']} / {row['variant']} / {row['quantity']}"
    if row.get("layout") and row["layout"] != "contiguous":
        title += f" / {row['layout']}"
    cause = row.get("cause") or "(none found)"
    parts = [
        f'<div class="divergence" id="{anchor}"><h3>{esc(title)}</h3>',
        f"<p>suspected family: <b>{esc(cause)}</b> &mdash; {esc(row.get('message', ''))}</p>",
    ]
    if isinstance(result, str):
        parts.append(f'<p class="note no-map">{esc(result)}</p></div>')
        return "".join(parts)
    png, view, cell = heatmap(result.values, result.index)
    height, width = (s * cell for s in view.cells.shape)
    worst = float(abs(result.values[result.index]))
    crop = ""
    if view.cells.shape != view.full:
        crop = (
            f" (slice {list(view.full)}; shown: {list(view.cells.shape)} cells from row "
            f"{view.offset[0]}, column {view.offset[1]})"
        )
    parts.append(
        f'<img class="heatmap" src="{data_uri(png)}" width="{width}" height="{height}" '
        f'alt="|difference| over {esc(view.label)}">'
        f'<p class="note">|{esc(row["implementation"])} - {esc(result.against)}| over the slice '
        f"{esc(view.label)} of the {list(result.values.shape)} array{esc(crop)}; the worst element "
        f"(outlined in blue) is at {list(result.index)}: {worst:.4g}; white is 0, dark red "
        f"{_top(view.cells)} (grey NaN, black infinite)</p>"
    )
    if result.explanation:
        parts.append(
            "<details><summary>the worst element computed by hand (conv-harness explain)"
            f"</summary><pre>{esc(chr(10).join(result.explanation))}</pre></details>"
        )
    return "".join([*parts, "</div>"])


def blind_spot_table(frame) -> str:
    from harness.reporting.report import divergence_summary

    summary = divergence_summary(blind_spot_records(frame))
    if summary.empty:
        return '<p class="note">The report has no variant rows (it was run with --no-variants).</p>'
    shown = summary[(summary["blind_spots"] != "") | (summary["hidden"] != "")]
    if shown.empty:
        return '<p class="note">Every case detects every mutation that applies to it.</p>'
    lines = ['<table id="blind-spots"><tr><th>case</th><th>blind spots</th><th>hidden</th></tr>']
    for row in shown.itertuples():
        lines.append(
            f"<tr><td>{esc(row.case_id)}</td><td>{esc(row.blind_spots.replace(';', ', '))}</td>"
            f"<td>{esc(row.hidden.replace(';', ', '))}</td></tr>"
        )
    return "\n".join([*lines, "</table>"])


def coverage_tables(cases) -> str:
    from harness.reporting.coverage import (
        examples,
        families_by_operation,
        member_coverage,
        registry_coverage,
    )

    forward = [c for c in cases if c.computes and not c.transposed]
    if not forward:
        return '<p class="note">No forward case of the report computes an output.</p>'
    ops = [op for op in ("conv1d", "conv2d", "conv3d") if any(c.op == op for c in forward)]
    families = families_by_operation(registry_coverage(forward), ops)
    head = "".join(f"<th>{op}</th>" for op in ops)
    lines = [f'<table id="coverage-families"><tr><th>family</th>{head}</tr>']
    for cause, per_op in families.items():
        cells = "".join(f'<td class="num">{len(per_op[op])}</td>' for op in ops)
        lines.append(f"<tr><td>{esc(cause)}</td>{cells}</tr>")
    lines.append("</table><p>Family members by rank (cases that detect each):</p>")
    lines.append(
        '<table id="coverage-members"><tr><th>rank</th><th>member</th><th>cause</th>'
        "<th>detecting cases</th><th>of</th><th>examples</th></tr>"
    )
    for member in member_coverage(forward):
        gap = ' class="gap"' if member.tried and not member.detecting else ""
        lines.append(
            f"<tr{gap}><td>{member.rank}</td><td>{esc(member.name)}</td><td>{esc(member.cause)}"
            f'</td><td class="num">{len(member.detecting)}</td><td class="num">{member.tried}'
            f"</td><td>{esc(examples(member.detecting))}</td></tr>"
        )
    return "\n".join([*lines, "</table>"])


def build_page(
    frame,
    implementations: Mapping[str, Implementation | None],
    title: str = "conv-harness report",
    max_heatmaps: int = MAX_HEATMAPS,
) -> str:
    """The page's HTML for a report's rows; `implementations` by name (None: not callable here)."""
    import json

    sentence, clean = verdict(frame)
    records = frame.to_dict("records")
    not_ok = [(k, row) for k, row in enumerate(records) if row["status"] != "ok"]
    divergent = [(k, row) for k, row in not_ok if row["observed"] == "diverge"]
    divergent.sort(key=lambda item: (-_ratio(item[1]), item[0]))
    mapped = divergent[:max_heatmaps]
    anchors = {k: f"d-{k}" for k, _row in mapped}
    cases, case_notes = load_report_cases(list(frame["source"]))
    blocks = []
    for k, row in mapped:
        case = cases.get((row["source"], row["case_id"]))
        result = row_difference(row, case, implementations.get(row["implementation"]))
        blocks.append(heatmap_block(anchors[k], row, result))
    capped = ""
    if len(divergent) > len(mapped):
        capped = (
            f'<p class="note" id="capped">Maps for the {len(mapped)} worst of the '
            f"{len(divergent)} divergent rows (by difference over tolerance); the others are in "
            "the table.</p>"
        )
    notes = "".join(f'<p class="note">{esc(note)}</p>' for note in case_notes)
    in_report = {(row["source"], row["case_id"]) for row in records}
    report_cases = [case for key, case in cases.items() if key in in_report]
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="verdict {"clean" if clean else "failing"}" id="verdict">{esc(sentence)}</p>',
        "<h2>Rows by implementation, status and cause</h2>",
        summary_table(frame),
        f"<h2>Rows that are not ok ({len(not_ok)})</h2>",
        _filters([row for _k, row in not_ok]),
        f'<p>Showing <span id="shown-count">{len(not_ok)}</span> of {len(not_ok)} rows; '
        "click a header to sort.</p>",
        rows_table(not_ok, anchors),
        f"<h2>Divergent rows: |difference| over the worst slice ({len(divergent)})</h2>",
        notes,
        capped,
        "\n".join(blocks) or '<p class="note">No row that is not ok diverges.</p>',
        "<h2>Blind spots: mutations a case cannot detect</h2>",
        blind_spot_table(frame),
        "<h2>Coverage by family and rank</h2>",
        coverage_tables(report_cases),
    ]
    script = SCRIPT % json.dumps(list(FIELDS))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(body)
        + f"\n<script>{script}</script>\n</body></html>\n"
    )
