"""Build the chapters as a static website, from the outputs the notebooks store (`make site`).

Each notebooks/NN_*.ipynb becomes NN_*.html through nbconvert's HTML exporter (its `lab`
template, extended in docs/templates/gradviz_site), plus an index.html with the table of
contents. Nothing is executed: a page shows exactly what the committed notebook stores, so each
explorer shows its first frame (the image/png beside its widget view) and a progress bar its
one-line summary. Nothing is fetched from the network, at build time or when a page is viewed:
MathJax is copied from the pip package jupyter-server-mathjax into _static/, figures are
embedded in the pages, and no widget JavaScript is loaded (a static page has no kernel to
answer a slider).

    python docs/build_site.py --out build/site [notebooks/01_x.ipynb ...]
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from pathlib import Path

import jupyter_server_mathjax
import nbformat
from nbconvert import HTMLExporter
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
TEMPLATE = "gradviz_site"

# nbconvert's own order of preference between the forms of an output, without the widget view:
# a static page cannot run a widget, so it takes the next form (an explorer's image/png).
DISPLAY_PRIORITY = [
    "text/html",
    "text/markdown",
    "image/svg+xml",
    "text/latex",
    "image/png",
    "image/jpeg",
    "text/plain",
]

LIVE_NOTE = (
    "This page is a static copy of the notebook and of the outputs it stores: each explorer shows "
    "its first frame, and its sliders do not move here. To run it live, open "
    "<code>notebooks/{name}</code> in JupyterLab (<code>make lab</code> in a clone of gradviz, or "
    "the Binder badge of the README), or serve chapter 07's playground to a class with "
    "<code>make app</code>."
)

HEADING = re.compile(r"^#\s+(.+?)\s*$", re.MULTILINE)


def chapter_title(nb) -> str:
    """The first level-1 heading of the notebook's markdown ('' if there is none)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = HEADING.search(cell.source)
            if m:
                return m.group(1)
    return ""


def exporter() -> HTMLExporter:
    c = Config()
    c.NbConvertBase.display_data_priority = DISPLAY_PRIORITY
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    return HTMLExporter(config=c, template_name=TEMPLATE, extra_template_basedirs=[str(HERE / "templates")])


def build(out: Path, notebooks: list[Path]) -> list[Path]:
    """Write the site into ``out`` (emptied first); return the pages written, index first."""
    if not notebooks:
        raise ValueError("no notebooks to build a site from")
    if out.exists():
        shutil.rmtree(out)
    static = out / "_static"
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", static / "mathjax")
    shutil.copyfile(HERE / "site.css", static / "site.css")

    nbs = [nbformat.read(p, as_version=4) for p in notebooks]
    chapters = [
        {"href": p.stem + ".html", "title": chapter_title(nb) or p.stem, "name": p.name}
        for p, nb in zip(notebooks, nbs)
    ]
    html_exporter = exporter()
    pages = [out / "index.html"]
    for i, (nb, chapter) in enumerate(zip(nbs, chapters)):
        site = {
            "prev": chapters[i - 1] if i > 0 else None,
            "next": chapters[i + 1] if i + 1 < len(chapters) else None,
            "live_note": LIVE_NOTE.format(name=html.escape(chapter["name"])),
            "mathjax_url": "_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe",
            "css_url": "_static/site.css",
        }
        nb.metadata["title"] = chapter["title"]
        nb.metadata.pop("widgets", None)  # no widget is drawn here: leave their state out of the page
        body, _ = html_exporter.from_notebook_node(nb, resources={"site": site})
        page = out / chapter["href"]
        page.write_text(body, encoding="utf-8")
        pages.append(page)
    (out / "index.html").write_text(index_page(chapters), encoding="utf-8")
    return pages


def index_page(chapters) -> str:
    items = "\n".join(
        f'    <li><a href="{c["href"]}">{html.escape(c["title"])}</a> '
        f'<span class="gv-file">({html.escape(c["name"])})</span></li>'
        for c in chapters
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>gradviz: vanishing and exploding gradients</title>
<link rel="stylesheet" href="_static/site.css">
</head>
<body class="gv-index">
<main>
<h1>gradviz: vanishing and exploding gradients</h1>
<p>Why do deep networks sometimes refuse to learn? Often because the gradient that reaches the
first layers is vanishingly small or explosively large. One chapter per notebook:</p>
<nav aria-label="chapters">
  <ol class="gv-toc">
{items}
  </ol>
</nav>
<aside class="gv-live-note">These pages are static copies of the notebooks: every figure is there,
and each explorer shows its first frame. To move the sliders, run the notebooks live:
<code>make lab</code> in a clone of gradviz, or the Binder badge of its README. A teacher can serve
chapter 07's playground to a class with <code>make app</code>.</aside>
</main>
</body>
</html>
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site", help="folder to write (emptied first)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    pages = build(args.out, notebooks)
    print(f"wrote {len(pages)} pages into {args.out} (open {args.out / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
