"""A self-contained HTML report of a fit (plus summary.md and the figures as PNG files).

The page has no scripts and loads nothing: styles are inline and figures are embedded as
base64 PNG, so the one file can be mailed, archived or opened offline. Sections: model
(formula, equations level-wise and combined), fixed effects, variance components, ICC,
sampling diagnostics, the REML comparison (when given), figures.

:func:`render` is pure (numbers and figures in, text out); :func:`write_report` writes the
files.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import names
from ..formula import is_null
from ..plots.caterpillar import plot_caterpillar
from ..plots.compare import plot_compare
from ..plots.icc import plot_icc
from ..plots.trace import figure_png, plot_intervals, plot_trace
from ..report import group_effects, icc_draws
from ..report.summary_table import parameter_draws
from .equations import equations
from .json_report import fit_report

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 980px; color: #1d2330; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h3 { font-size: 1rem; margin: .9rem 0 .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
     border-bottom: 1px solid #d5d9e0; padding-bottom: .2rem; }
code { background: #f3f4f7; padding: 0 .25rem; border-radius: 3px; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .92rem; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid #e3e6ec; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f4f7; }
.meta { color: #556; } .ok { color: #1a7f37; font-weight: 600; }
.bad { color: #b42318; font-weight: 600; } .flag { color: #b42318; font-size: .85rem; text-align: left; }
.equations { background: #fafbfc; border: 1px solid #e3e6ec; border-radius: 6px; padding: .6rem 1rem; }
.eq-level { margin: .4rem 0; } .eq-label { font-weight: 600; display: inline-block; min-width: 7rem; color: #445; }
.eq { font-family: "Cambria Math", "STIX Two Math", Georgia, serif; font-size: 1.05rem; margin: .15rem 0 .15rem 7rem; }
.var { font-style: normal; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #e3e6ec; }
figcaption { color: #556; font-size: .9rem; }
"""


@dataclass(frozen=True)
class FigureFile:
    """A figure of the report: file name, caption, PNG bytes."""

    name: str
    caption: str
    png: bytes


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if isinstance(x, int):
        return str(x)
    ax = abs(x)
    if ax != 0 and (ax >= 1e5 or ax < 1e-3):
        return f"{x:.{digits}g}"
    return f"{x:.{digits}f}" if ax < 100 else f"{x:.1f}"


def _table(header: list[str], rows: list[list], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for r in rows:
        cells = []
        for v in r:
            if isinstance(v, tuple):  # (raw html, ) cell
                cells.append(f"<td class=\"flag\">{v[0]}</td>")
            else:
                cells.append(f"<td>{html.escape(_fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    c = f' class="{cls}"' if cls else ""
    return f"<table{c}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _md_table(header: list[str], rows: list[list]) -> str:
    def cell(v):
        v = v[0] if isinstance(v, tuple) else _fmt(v)
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


# --- the tables, from the JSON report dict ----------------------------------------------------


def tables(report: dict) -> dict[str, tuple[list[str], list[list]]]:
    """Section name -> (header, rows), from :func:`hiermod.output.json_report.fit_report`."""
    pct = f"{100 * report['interval_prob']:g}%"
    cols = ["mean", "sd", f"{pct} lower", f"{pct} upper", "ESS bulk", "R-hat"]

    def stat_row(label, s):
        return [label, s["mean"], s["sd"], s["lower"], s["upper"],
                s.get("ess_bulk"), s.get("r_hat")]

    out: dict[str, tuple[list[str], list[list]]] = {}
    out["fixed"] = (["term", *cols], [stat_row(t, s) for t, s in report["fixed"].items()])
    vc = []
    for g, terms in report["group_sd"].items():
        for t, s in terms.items():
            vc.append(stat_row(names.sd_label(g, t), s))
    for g, pairs in report["group_corr"].items():
        for s in pairs.values():
            vc.append(stat_row(names.corr_label(g, *s["terms"]), s))
    if report["sigma"] is not None:
        vc.append(stat_row("sigma (residual sd)", report["sigma"]))
    out["variance"] = (["parameter", *cols], vc)
    icc_header = ["grouping factor", "levels", "ICC mean", "sd", f"{pct} lower", f"{pct} upper"]

    def icc_rows(section):
        return [[g, report["groups"].get(g), s["mean"], s["sd"], s["lower"], s["upper"]]
                for g, s in section.items()]

    if report.get("icc_null"):
        out["icc_null"] = (icc_header, icc_rows(report["icc_null"]))
    if not report.get("icc_null") or report["icc_null"] != report["icc"]:
        out["icc"] = (icc_header, icc_rows(report["icc"]))
    d = report["diagnostics"]
    t = report["timing"]
    smp = report.get("sampler", {})
    out["diagnostics"] = (["check", "value"], [
        ["status", "no problems found" if d["ok"] else "PROBLEMS (see below)"],
        ["max R-hat", d["max_rhat"]], ["min ESS bulk", d["min_ess_bulk"]],
        ["min ESS tail", d["min_ess_tail"]], ["divergent transitions", d["divergences"]],
        ["max tree depth hits", d.get("treedepth_hits")],
        ["sampler", f"{smp.get('sampler')} ({smp.get('parameterization')}), "
                    f"{smp.get('chains')} chains × {smp.get('draws')} draws, "
                    f"{smp.get('tune')} tuning, seed {smp.get('random_seed')}"],
        ["time: build / compile / sample / total (s)",
         " / ".join(_fmt(t.get(k), 1) if t.get(k) is not None else "–"
                    for k in ("build_s", "compile_s", "sample_s", "total_s"))],
    ])
    reml = report.get("reml")
    if reml and reml.get("comparison"):
        rows = []
        for label, c in reml["comparison"].items():
            se = reml["fixed"].get(label, {}).get("se")
            rows.append([label, c["posterior_mean"], c["reml"], se, c["diff"], c.get("diff_z"),
                         (html.escape(c["flags"]),)])
        out["reml"] = (["parameter", "posterior mean", f"{reml['method']} estimate",
                        f"{reml['method']} SE", "difference", "difference (z)", "flags"], rows)
    return out


# --- figures -----------------------------------------------------------------------------------


def figures(fit, comparison: pd.DataFrame | None = None, prob: float = 0.95,
            null_fit=None) -> list[FigureFile]:
    """The report's figures: fixed effects, variance components, traces, REML comparison,
    ICC (of the null model when given) and the group effects (caterpillar)."""
    design = fit.design
    summ = fit.summary(prob)
    out = []
    fixed = summ.loc[[t for t in design.fixed_terms]]
    if len(fixed):
        out.append(FigureFile("fixed_effects.png", "Fixed effects: posterior means and intervals",
                              figure_png(plot_intervals(fixed, "fixed effects", reference=0.0,
                                                        prob=prob))))
    vc_rows = [names.sd_label(fd.name, t) for fd in design.factors for t in fd.terms]
    vc_rows += [names.SIGMA] if names.SIGMA in summ.index else []
    if vc_rows:
        out.append(FigureFile("variance_components.png",
                              "Standard deviations of the varying effects and of the residual",
                              figure_png(plot_intervals(summ.loc[vc_rows], "standard deviations",
                                                        prob=prob))))
    draws = parameter_draws(fit.idata["posterior"].to_dataset(), design)
    out.append(FigureFile("trace.png", "Traces and per-chain posteriors of the main parameters",
                          figure_png(plot_trace(draws))))
    if comparison is not None:
        out.append(FigureFile("reml_comparison.png",
                              "Posterior (blue) against the REML / ML estimate (orange)",
                              figure_png(plot_compare(comparison, prob=prob))))
    out.extend(_caterpillar(fit, prob, null_fit))
    return out


def _caterpillar(fit, prob: float, null_fit=None) -> list[FigureFile]:
    """The ICC's posterior and the group effects of each factor (caterpillar plots)."""
    use_null = null_fit is not None and not is_null(fit.spec)
    source = null_fit if use_null else fit
    which = "the null model's" if use_null or is_null(fit.spec) else "this model's residual"
    out = [FigureFile("icc.png", f"Posterior of {which} intraclass correlation of each "
                      "grouping factor",
                      figure_png(plot_icc(icc_draws(source.idata, source.design), prob=prob)))]
    for fd in fit.design.factors:
        table = group_effects(fit.idata, fit.design, factor=fd.name, prob=prob)
        out.append(FigureFile(f"caterpillar_{names.group_effects(fd.name)}.png",
                              f"Group effects of '{fd.name}' with {100 * prob:g}% intervals",
                              figure_png(plot_caterpillar(table, factor=fd.name, prob=prob,
                                                          coefficient=False))))
    return out


# --- rendering -----------------------------------------------------------------------------------


#: the heading of the fitted model's own ICC: its residual ICC, or the null-model ICC itself
ICC_HEADINGS = {False: "Residual intraclass correlation of this model",
                True: "Intraclass correlation (null model)"}


def is_null_report(report: dict) -> bool:
    """Whether the report's own ICC is the null-model ICC (the fit is a null model)."""
    return bool(report.get("icc_null")) and report["icc_null"] == report["icc"]


def icc_scale_note(family: str) -> str:
    """On which scale the ICC's level-1 variance is measured."""
    if family == "gaussian":
        return "The level-1 variance is the residual variance σ²."
    if family == "poisson":
        return ("On the latent (log) scale: the level-1 variance is log(1 + 1/λ) "
                "(Nakagawa et al. 2017).")
    return "On the latent (logit) scale: the level-1 variance is π²/3 ≈ 3.29."


def icc_html(report: dict, tabs: dict) -> list[str]:
    """The ICC section: the null-model ICC first (when known), then this model's residual ICC,
    each with what it measures."""
    parts = []
    note = html.escape(icc_scale_note(report["family"]))
    if "icc_null" in tabs:
        parts += ["<h3>Null model</h3>",
                  "<p class=\"meta\">The share of the outcome's variance that lies between the "
                  "groups of each factor, τ² / (τ² + σ²) in the model without predictors, y ~ 1 + "
                  f"(1 | g): how alike two units of one group are. {note}</p>",
                  _table(*tabs["icc_null"])]
    if "icc" in tabs:
        parts += ["<h3>Residual, this model</h3>",
                  "<p class=\"meta\">The same share of the variance left after this model's "
                  "predictors, from its intercept variances (with varying slopes: at the slope "
                  f"predictors' value 0). It is not the null-model ICC. {note}"
                  + ("" if "icc_null" in tabs else " Fit the null model (the command line does "
                     "unless --no-null; hm.null_model) for the ICC of the outcome itself.")
                  + "</p>", _table(*tabs["icc"])]
    return parts


def render(report: dict, equations=None, figs: list[FigureFile] = (), title: str | None = None,
           description: str = "") -> tuple[str, str]:
    """(HTML text, Markdown text) of the report."""
    tabs = tables(report)
    title = title or report.get("model") or "hiermod fit"
    groups = ", ".join(f"{g} ({n} levels)" for g, n in report["groups"].items())
    meta = (f"<code>{html.escape(report['formula'])}</code> · family {report['family']} · "
            f"{report['n_obs']} observations · {html.escape(groups)}")
    d = report["diagnostics"]
    status = ('<p class="ok">Sampling diagnostics: no problems found.</p>' if d["ok"] else
              '<p class="bad">Sampling diagnostics found problems:</p><ul>'
              + "".join(f"<li>{html.escape(p)}</li>" for p in d["problems"]) + "</ul>")
    notes = "".join(f"<p class=\"meta\">Note: {html.escape(n)}</p>" for n in d.get("notes", []))
    pct = f"{100 * report['interval_prob']:g}%"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{html.escape(description)}</p>' if description else "",
        f'<p class="meta">{meta}</p>',
        status,
        "<h2 id=\"model\">Model</h2>",
        equations.html() if equations is not None else "",
        "<h2 id=\"fixed\">Fixed effects</h2>",
        f"<p class=\"meta\">Posterior mean, sd and {pct} equal-tailed interval.</p>",
        _table(*tabs["fixed"]),
        "<h2 id=\"variance\">Variance components</h2>",
        _table(*tabs["variance"]),
        "<h2 id=\"icc\">Intraclass correlation</h2>",
        *icc_html(report, tabs),
        "<h2 id=\"diagnostics\">Sampling diagnostics</h2>",
        _table(*tabs["diagnostics"]), notes,
    ]
    if "reml" in tabs:
        parts += ["<h2 id=\"reml\">Posterior versus REML / ML</h2>",
                  "<p class=\"meta\">The same model fitted by restricted (gaussian) or Laplace "
                  "maximum likelihood on the same design; flags explain where the two may "
                  "differ.</p>", _table(*tabs["reml"], cls="reml")]
    if figs:
        parts.append("<h2 id=\"figures\">Figures</h2>")
        for f in figs:
            b64 = base64.b64encode(f.png).decode("ascii")
            parts.append(f'<figure><img alt="{html.escape(f.caption)}" '
                         f'src="data:image/png;base64,{b64}">'
                         f"<figcaption>{html.escape(f.caption)} ({html.escape(f.name)})"
                         "</figcaption></figure>")
    parts.append(f"<p class=\"meta\">hiermod {html.escape(str(report.get('hiermod_version')))}"
                 "</p></body></html>")
    page = "\n".join(p for p in parts if p)

    md = [f"# {title}", ""]
    if description:
        md += [description, ""]
    md += [f"`{report['formula']}` · family {report['family']} · {report['n_obs']} "
           f"observations · {groups}", ""]
    if equations is not None:
        md += ["## Model", "", equations.markdown(), ""]
    for key, heading in (("fixed", "Fixed effects"), ("variance", "Variance components"),
                         ("icc_null", "Intraclass correlation of the null model"),
                         ("icc", ICC_HEADINGS[is_null_report(report)]),
                         ("diagnostics", "Sampling diagnostics"),
                         ("reml", "Posterior versus REML / ML")):
        if key in tabs:
            md += [f"## {heading}", "", _md_table(*tabs[key]), ""]
        if key == "icc":
            md += [icc_scale_note(report["family"]), ""]
    if not d["ok"]:
        md += ["**Problems:**", ""] + [f"- {p}" for p in d["problems"]] + [""]
    if figs:
        md += ["## Figures", ""] + [f"![{f.caption}]({f.name})" for f in figs] + [""]
    return page, "\n".join(md)


def write_report(fit, out_dir, reml_fit=None, comparison: pd.DataFrame | None = None,
                 title: str | None = None, description: str = "", prob: float = 0.95,
                 report: dict | None = None, null_fit=None) -> dict[str, Path]:
    """Write ``report.html``, ``summary.md`` and the figures (PNG) into ``out_dir``.

    Parameters
    ----------
    fit : Fit
    out_dir : str or Path
        Created if missing; existing files of the same names are replaced.
    reml_fit, comparison : optional
        A REML fit of the same model and :func:`hiermod.compare`'s table.
    title, description : str, optional
    prob : float
        Interval probability.
    report : dict, optional
        A ready :func:`hiermod.output.json_report.fit_report` (computed if not given).
    null_fit : Fit, optional
        The null model of ``fit``: the report leads its ICC section with the null-model ICC.

    Returns
    -------
    dict
        "html", "markdown" and one entry per figure -> the path written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if report is None:
        report = fit_report(fit, reml_fit, comparison, prob=prob, model_name=title,
                            null_fit=null_fit)
    figs = figures(fit, comparison, prob, null_fit)
    page, md = render(report, equations(fit), figs, title=title, description=description)
    paths = {"html": out / "report.html", "markdown": out / "summary.md"}
    paths["html"].write_text(page, encoding="utf-8")
    paths["markdown"].write_text(md, encoding="utf-8")
    for f in figs:
        p = out / f.name
        p.write_bytes(f.png)
        paths[f.name] = p
    return paths
