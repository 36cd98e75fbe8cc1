"""HTML via BeautifulSoup (lxml): headings, paragraphs, lists, code, tables, images and figures with captions.
Scripts, styles and navigation are dropped; remote images are never fetched (their alt text is kept)."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..config import IngestConfig
from ..document import Document, Element
from ..limits import MB
from ..tables import normalize_rows
from . import loader
from .text import read_text

HEADINGS = {f"h{i}": i for i in range(1, 7)}
DROP = {"script", "style", "noscript", "template", "nav", "head", "iframe", "object", "svg", "form", "button"}
INLINE = {"a", "span", "b", "i", "em", "strong", "code", "small", "sup", "sub", "br", "abbr", "mark", "u", "s",
          "time", "label", "q", "cite", "kbd", "var", "del", "ins", "font"}
MAX_DEPTH = 100  # nested containers walked with their structure; deeper ones are read as plain text
IMAGE_EXT = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp", ".bmp": "bmp"}


def local_image(src: str, base: Path, max_bytes: float = float("inf")) -> tuple[bytes | None, str]:
    """The bytes of an image referenced by a document: a data: URI or a local regular file of at most max_bytes
    (never the network). A reference that cannot be read (missing, a link loop, too large) has no bytes."""
    if src.startswith("data:image/"):
        header, _, payload = src.partition(",")
        try:
            return base64.b64decode(payload), header[len("data:image/"):].split(";")[0] or "png"
        except (binascii.Error, ValueError):
            return None, "png"
    parsed = urlparse(src)
    if parsed.scheme in ("http", "https", "ftp") or not src:
        return None, "png"
    path = base / unquote(parsed.path) if parsed.scheme != "file" else Path(unquote(parsed.path))
    ext = IMAGE_EXT.get(path.suffix.lower())
    if ext:
        try:
            if path.is_file() and path.stat().st_size <= max_bytes:
                return path.read_bytes(), ext
        except (OSError, ValueError):  # unreadable, vanished, a link loop, a NUL in the name
            pass
    return None, ext or "png"


@loader("html", [".html", ".htm", ".xhtml"])
def load(path: Path, config: IngestConfig) -> Document:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(read_text(path), "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(DROP):
        tag.decompose()
    doc = Document(str(path), "html", title=title or path.stem, converter="beautifulsoup")
    walker = _Walker(path.parent, config.max_file_mb * MB)
    walker.walk(soup.body or soup)
    walker.flush()
    doc.elements = walker.elements
    return doc


class _Walker:
    def __init__(self, base: Path, max_image_bytes: float):
        self.base = base
        self.max_image_bytes = max_image_bytes
        self.depth = 0
        self.elements: list[Element] = []
        self.buffer: list[str] = []

    def flush(self) -> None:
        text = " ".join(" ".join(self.buffer).split())
        self.buffer = []
        if text:
            self.elements.append(Element("text", text))

    def walk(self, node) -> None:
        from bs4 import NavigableString, Tag
        from bs4.element import Comment

        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:  # pathological nesting: its text, without structure, instead of a crash
                self.buffer.append(node.get_text(" "))
                return
            self._children(node, NavigableString, Tag, Comment)
        finally:
            self.depth -= 1

    def _children(self, node, NavigableString, Tag, Comment) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                self.buffer.append(str(child))
            elif isinstance(child, Tag):
                self.tag(child)

    def tag(self, tag) -> None:
        name = tag.name
        if name in INLINE:
            if tag.find("img"):
                self.flush()
                self.walk(tag)
            else:
                self.buffer.append(tag.get_text(" "))
            return
        self.flush()
        if name in HEADINGS:
            text = tag.get_text(" ", strip=True)
            if text:
                self.elements.append(Element("heading", " ".join(text.split()), level=HEADINGS[name]))
        elif name in ("ul", "ol"):
            self.elements.append(Element("list", _list_text(tag)))
        elif name == "pre":
            self.elements.append(Element("code", tag.get_text().rstrip("\n")))
        elif name == "table":
            self.table(tag)
        elif name == "img":
            self.picture(tag, caption="")
        elif name == "figure":
            self.figure(tag)
        elif name == "p" and not tag.find(["img", "table", "ul", "ol"]):
            self.buffer.append(tag.get_text(" "))
            self.flush()
        else:  # div, section, article, blockquote, main, dl, ...: a container
            self.walk(tag)
            self.flush()

    def table(self, tag) -> None:
        rows, header_rows = [], 0
        for tr in tag.find_all("tr"):
            cells = tr.find_all(["th", "td"], recursive=False)
            rows.append([c.get_text(" ", strip=True) for c in cells])
            if cells and all(c.name == "th" for c in cells) and len(rows) == header_rows + 1:
                header_rows += 1
        caption = tag.find("caption")
        rows = normalize_rows(rows)
        if rows:
            self.elements.append(Element("table", rows=rows, header_rows=max(1, header_rows),
                                         caption=caption.get_text(" ", strip=True) if caption else ""))

    def picture(self, img, caption: str) -> None:
        data, ext = local_image(img.get("src", ""), self.base, self.max_image_bytes)
        alt = img.get("alt", "") or img.get("title", "")
        self.elements.append(Element("picture", caption=" ".join((caption or alt).split()), image=data,
                                     image_ext=ext, meta={"src": img.get("src", ""), "alt": alt}))

    def figure(self, tag) -> None:
        figcaption = tag.find("figcaption")
        caption = figcaption.get_text(" ", strip=True) if figcaption else ""
        if figcaption:
            figcaption.decompose()
        images = tag.find_all("img")
        for img in images:
            self.picture(img, caption)
        for table in tag.find_all("table"):
            self.table(table)
            if caption and self.elements[-1].kind == "table" and not self.elements[-1].caption:
                self.elements[-1].caption = caption
        if not images and not tag.find("table"):
            self.walk(tag)
            self.flush()


def _list_text(tag, depth: int = 0) -> str:
    lines = []
    ordered = tag.name == "ol"
    for n, li in enumerate(tag.find_all("li", recursive=False), start=1):
        marker = f"{n}." if ordered else "-"
        if depth >= MAX_DEPTH:  # a list nested deeper than anyone reads: the rest as one line
            lines.append("  " * depth + f"{marker} " + " ".join(li.get_text(" ").split()))
            continue
        nested = li.find_all(["ul", "ol"], recursive=False)
        for sub in nested:
            sub.extract()
        lines.append("  " * depth + f"{marker} " + " ".join(li.get_text(" ").split()))
        lines += [_list_text(sub, depth + 1) for sub in nested]
    return "\n".join(line for line in lines if line.strip())
