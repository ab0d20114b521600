// The report's grid: facet filtering, sorting and paging over the rows embedded in the page.
// Text is always set with textContent, never parsed as HTML: captions come from the web.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const PAGE = 120;
  const selected = Object.fromEntries(data.facets.map((f) => [f, new Set()]));
  let sortKey = "";
  let limit = PAGE;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const child of children) node.append(child);
    return node;
  }

  function matches(item) {
    return data.facets.every((f) => selected[f].size === 0 || selected[f].has(item[f]));
  }

  function sorted(items) {
    if (!sortKey) return items;
    const [column, direction] = sortKey.split(":");
    const sign = direction === "desc" ? -1 : 1;
    return items.slice().sort((a, b) => {
      const x = a.numbers[column], y = b.numbers[column];
      if (x === undefined || x === null) return (y === undefined || y === null) ? 0 : 1;  // missing values last
      if (y === undefined || y === null) return -1;
      return sign * (x - y);
    });
  }

  function card(item) {
    const thumb = el("div", { class: "thumb" },
      item.thumb ? el("img", { src: item.thumb, alt: item.key, loading: "lazy" })
                 : el("span", { class: "missing" }, "no image"));
    const caption = el("figcaption", {}, el("div", { class: "key" }, item.key));
    const status = el("div", {}, el("span", { class: "badge " + item.status }, item.status));
    if (item.reason_full) status.append(" ", el("span", { class: "reason" }, item.reason_full));
    caption.append(status);
    for (const [lang, text] of item.texts) {
      caption.append(el("div", { class: "text" }, el("span", { class: "lang" }, lang), text));
    }
    const numbers = data.card_numbers.filter((k) => k in item.numbers).map((k) => k + " " + item.numbers[k]).join(" · ");
    if (numbers) caption.append(el("div", { class: "numbers" }, numbers));
    return el("figure", {
      class: "card", "data-key": item.key, "data-status": item.status, "data-reason": item.reason,
      "data-source": item.source, "data-category": item.category,
    }, thumb, caption);
  }

  function renderGrid() {
    const matching = sorted(data.items.filter(matches));
    document.getElementById("grid").replaceChildren(...matching.slice(0, limit).map(card));
    document.getElementById("count").textContent =
      matching.length + " of " + data.items.length + " images";
    document.getElementById("more").hidden = matching.length <= limit;
  }

  function renderFacets() {
    const aside = document.getElementById("facets");
    for (const facet of data.facets) {
      const counts = new Map();
      for (const item of data.items) counts.set(item[facet], (counts.get(item[facet]) || 0) + 1);
      aside.append(el("h3", {}, facet));
      for (const [value, n] of [...counts].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(b[0]))) {
        const button = el("button", {
          type: "button", class: "facet-value", "data-facet": facet, "data-value": value, "aria-pressed": "false",
        }, el("span", {}, value), el("span", { class: "n" }, String(n)));
        button.addEventListener("click", () => {
          const set = selected[facet];
          set.has(value) ? set.delete(value) : set.add(value);
          button.setAttribute("aria-pressed", String(set.has(value)));
          limit = PAGE;
          renderGrid();
        });
        aside.append(button);
      }
    }
  }

  function renderSort() {
    const select = document.getElementById("sort");
    for (const column of data.sort_columns) {
      select.append(el("option", { value: column + ":desc" }, column + " (high first)"));
      select.append(el("option", { value: column + ":asc" }, column + " (low first)"));
    }
    select.addEventListener("change", () => { sortKey = select.value; renderGrid(); });
  }

  document.getElementById("more").addEventListener("click", () => { limit += PAGE; renderGrid(); });
  document.getElementById("clear").addEventListener("click", () => {
    for (const set of Object.values(selected)) set.clear();
    document.querySelectorAll(".facet-value").forEach((b) => b.setAttribute("aria-pressed", "false"));
    renderGrid();
  });
  renderFacets();
  renderSort();
  renderGrid();
})();
