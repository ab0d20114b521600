// The report's grid: search, facet and histogram filters, sorting, paging, duplicates beside their
// representative, click to enlarge. Text is always set with textContent, never parsed as HTML: captions
// come from the web.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const PAGE = 120;
  const SEARCH_K = 48;  // images a search shows, best first
  const selected = Object.fromEntries(data.facets.map((f) => [f, new Set()]));
  const ranges = {};  // column -> [low, high, last bin?] from a clicked histogram bar
  let search = null;  // {query, order: key -> rank, scores: key -> score} while a search is shown
  let sortKey = "";
  let limit = PAGE;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const child of children) node.append(child);
    return node;
  }

  function shown(value) {  // scores rounded for people; integers as they are
    return Number.isInteger(value) ? String(value) : Number(value).toFixed(3);
  }

  function inRange(item, column) {
    const [low, high, last] = ranges[column];
    const value = item.numbers[column];
    return value !== undefined && value !== null && value >= low && (value < high || (last && value <= high));
  }

  function matches(item) {
    if (search && !search.order.has(item.key)) return false;
    return data.facets.every((f) => selected[f].size === 0 || selected[f].has(item[f]))
      && Object.keys(ranges).every((column) => inRange(item, column));
  }

  function sorted(items) {
    if (search && !sortKey) return items.slice().sort((a, b) => search.order.get(a.key) - search.order.get(b.key));
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

  // Duplicates follow their representative when both are shown, so a near-duplicate is judged beside it.
  function withDuplicatesBeside(items) {
    const shownKeys = new Set(items.map((i) => i.key));
    const byRep = new Map();
    for (const item of items) {
      if (item.duplicate_of && shownKeys.has(item.duplicate_of)) {
        if (!byRep.has(item.duplicate_of)) byRep.set(item.duplicate_of, []);
        byRep.get(item.duplicate_of).push(item);
      }
    }
    const out = [];
    for (const item of items) {
      if (item.duplicate_of && shownKeys.has(item.duplicate_of)) continue;
      out.push(item, ...(byRep.get(item.key) || []));
    }
    return out;
  }

  function card(item, duplicates) {
    const thumb = el("div", { class: "thumb" },
      item.thumb ? el("img", { src: item.thumb, alt: item.key, loading: "lazy" })
                 : el("span", { class: "missing" }, "no image"));
    if (item.thumb) thumb.firstChild.addEventListener("click", () => enlarge(item));
    const caption = el("figcaption", {}, el("div", { class: "key" }, item.key));
    if (search && search.scores.has(item.key)) {
      caption.append(el("div", { class: "search-score" }, "match " + shown(search.scores.get(item.key))));
    }
    const status = el("div", {}, el("span", { class: "badge " + item.status }, item.status));
    if (item.reason_full) status.append(" ", el("span", { class: "reason" }, item.reason_full));
    caption.append(status);
    if (item.duplicate_of) caption.append(el("div", { class: "dup-of" }, "duplicate of " + item.duplicate_of));
    if (duplicates) caption.append(el("div", { class: "dups" }, duplicates + " duplicate(s) follow"));
    for (const [lang, text] of item.texts) {
      caption.append(el("div", { class: "text" }, el("span", { class: "lang" }, lang), text));
    }
    const numbers = data.card_numbers.filter((k) => k in item.numbers)
      .map((k) => k + " " + shown(item.numbers[k])).join(" · ");
    if (numbers) caption.append(el("div", { class: "numbers" }, numbers));
    return el("figure", {
      class: "card" + (item.duplicate_of ? " dup" : ""), "data-key": item.key, "data-status": item.status,
      "data-reason": item.reason, "data-source": item.source, "data-category": item.category,
    }, thumb, caption);
  }

  function enlarge(item) {
    const box = document.getElementById("lightbox");
    document.getElementById("lightbox-img").src = item.large || item.thumb;
    document.getElementById("lightbox-img").alt = item.key;
    document.getElementById("lightbox-caption").textContent =
      [item.key, ...item.texts.map(([lang, text]) => lang + ": " + text)].join(" · ");
    box.showModal();
  }

  function renderGrid() {
    const matching = withDuplicatesBeside(sorted(data.items.filter(matches)));
    const counts = new Map();
    for (const item of matching) if (item.duplicate_of) counts.set(item.duplicate_of, (counts.get(item.duplicate_of) || 0) + 1);
    document.getElementById("grid").replaceChildren(...matching.slice(0, limit).map((i) => card(i, counts.get(i.key))));
    document.getElementById("count").textContent =
      matching.length + " of " + data.items.length + " images" + (search ? " matching “" + search.query + "”" : "");
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

  function renderHistograms() {
    const holder = document.getElementById("hist-bars");
    if (!holder) return;
    for (const [column, { edges, counts }] of Object.entries(data.hist_bins || {})) {
      const most = Math.max(...counts, 1);
      const bars = el("div", { class: "bars" });
      counts.forEach((n, i) => {
        const low = edges[i], high = edges[i + 1], last = i === counts.length - 1;
        const bar = el("button", {
          type: "button", class: "bar", "data-column": column, "data-bin": String(i), "aria-pressed": "false",
          title: shown(low) + " – " + shown(high) + ": " + n + " rows", style: "height:" + (100 * n / most) + "%",
        });
        bar.addEventListener("click", () => {
          const on = bar.getAttribute("aria-pressed") !== "true";
          holder.querySelectorAll('.bar[data-column="' + CSS.escape(column) + '"]')
            .forEach((b) => b.setAttribute("aria-pressed", "false"));
          if (on) { ranges[column] = [low, high, last]; bar.setAttribute("aria-pressed", "true"); }
          else delete ranges[column];
          limit = PAGE;
          renderGrid();
        });
        bars.append(bar);
      });
      holder.append(el("div", { class: "hist" }, el("h4", {}, column), bars,
        el("div", { class: "range" }, el("span", {}, shown(edges[0])), el("span", {}, shown(edges[edges.length - 1])))));
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

  // Search asks the kcli view server (api/search), which embeds the query and searches the image index.
  const NEEDS_SERVER = "search needs the page served by `kcli view MANIFEST --index INDEX` " +
    "(build the index with `kcli index build MANIFEST --out INDEX`)";

  async function runSearch(query) {
    const status = document.getElementById("search-status");
    status.textContent = "searching…";
    let answer;
    try {
      const response = await fetch("api/search?k=" + SEARCH_K + "&q=" +
        encodeURIComponent(query));
      answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
    } catch (error) {
      status.textContent = location.protocol === "file:" ? NEEDS_SERVER : String(error.message || error);
      return;
    }
    search = { query, order: new Map(answer.hits.map((h, i) => [h.key, i])),
               scores: new Map(answer.hits.map((h) => [h.key, h.score])) };
    status.textContent = answer.hits.length + " hits in " + shown(answer.embed_ms + answer.search_ms) + " ms";
    document.getElementById("search-clear").hidden = false;
    limit = PAGE;
    renderGrid();
  }

  function setUpSearch() {
    document.getElementById("search").addEventListener("submit", (event) => {
      event.preventDefault();
      const query = document.getElementById("query").value.trim();
      if (query) runSearch(query);
    });
    document.getElementById("search-clear").addEventListener("click", () => {
      search = null;
      document.getElementById("search-clear").hidden = true;
      document.getElementById("search-status").textContent = "";
      renderGrid();
    });
    fetch("api/status").then((r) => r.json()).then((s) => {
      if (!s.search) document.getElementById("search-status").textContent = NEEDS_SERVER;
    }).catch(() => { document.getElementById("search-status").textContent = NEEDS_SERVER; });
  }

  document.getElementById("more").addEventListener("click", () => { limit += PAGE; renderGrid(); });
  document.getElementById("clear").addEventListener("click", () => {
    for (const set of Object.values(selected)) set.clear();
    for (const column of Object.keys(ranges)) delete ranges[column];
    document.querySelectorAll(".facet-value, .bar").forEach((b) => b.setAttribute("aria-pressed", "false"));
    renderGrid();
  });
  renderFacets();
  renderHistograms();
  renderSort();
  setUpSearch();
  renderGrid();
})();
