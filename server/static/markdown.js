// A tiny, safe markdown renderer for replies: it builds DOM nodes and sets only textContent
// and http(s) hrefs, so no markup in a model's reply ever reaches the page as HTML.
// Supported: paragraphs, line breaks, "-"/"*"/"•" and "1." lists, **bold**, *italic*/_italic_,
// `code`, [text](https://…) and bare http(s) links.
"use strict";

(function () {
  const INLINE = /\*\*([^*\n]+)\*\*|(?<!\w)__([^_\n]+)__(?!\w)|\*([^*\s][^*\n]*)\*|(?<!\w)_([^_\n]+)_(?!\w)|`([^`\n]+)`|\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?"'])/g;

  function safeHref(url) {
    try {
      const parsed = new URL(url);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (_) {
      return null;
    }
  }

  function link(text, url) {
    const href = safeHref(url);
    if (!href) return document.createTextNode(text);
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    return a;
  }

  function styled(tag, text) {
    const element = document.createElement(tag);
    element.textContent = text;
    return element;
  }

  function inline(parent, text) {
    let last = 0;
    INLINE.lastIndex = 0;
    let match;
    while ((match = INLINE.exec(text)) !== null) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      const [, bold1, bold2, em1, em2, code, label, url, bare] = match;
      if (bold1 || bold2) parent.appendChild(styled("strong", bold1 || bold2));
      else if (em1 || em2) parent.appendChild(styled("em", em1 || em2));
      else if (code) parent.appendChild(styled("code", code));
      else if (label) parent.appendChild(link(label, url));
      else parent.appendChild(link(bare, bare));
      last = INLINE.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function lines(parent, rows) {
    rows.forEach((row, n) => {
      if (n > 0) parent.appendChild(document.createElement("br"));
      inline(parent, row);
    });
  }

  const BULLET = /^\s*[-*•]\s+(.*)$/;
  const NUMBERED = /^\s*\d+[.)]\s+(.*)$/;

  // Render `text` into `container` (its children are replaced).
  function render(container, text) {
    const fragment = document.createDocumentFragment();
    let paragraph = [];
    let list = null;
    let listKind = null;
    const flushParagraph = () => {
      if (paragraph.length) {
        const p = document.createElement("p");
        lines(p, paragraph);
        fragment.appendChild(p);
        paragraph = [];
      }
    };
    const flushList = () => {
      if (list) fragment.appendChild(list);
      list = null;
      listKind = null;
    };
    for (const row of text.split(/\r?\n/)) {
      const bullet = BULLET.exec(row);
      const numbered = bullet ? null : NUMBERED.exec(row);
      if (bullet || numbered) {
        flushParagraph();
        const kind = bullet ? "ul" : "ol";
        if (listKind !== kind) {
          flushList();
          list = document.createElement(kind);
          listKind = kind;
        }
        const item = document.createElement("li");
        inline(item, (bullet || numbered)[1]);
        list.appendChild(item);
      } else if (row.trim() === "") {
        flushParagraph();
        flushList();
      } else {
        flushList();
        paragraph.push(row);
      }
    }
    flushParagraph();
    flushList();
    container.replaceChildren(fragment);
  }

  window.renderMarkdown = render;
})();
