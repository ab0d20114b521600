// kcli serve: prompt suggestions. As a person types, the corpus prompts nearest to the prompt box (from
// /api/suggest, a server started with --prompt-index) show under it with their scores and the search time;
// one click puts a suggestion into the box. Hit texts come from a corpus: they are set with textContent only.
"use strict";

const SUGGEST_DELAY_MS = 250;  // wait for a pause in typing (and for the Hangul IME to settle) before asking
const SUGGEST_COUNT = 5;

function showSuggestions(data) {
  const list = document.getElementById("suggestions");
  list.replaceChildren();
  data.hits.forEach((hit, index) => {
    const pick = document.createElement("button");
    pick.type = "button";
    pick.className = "suggestion";
    pick.id = `suggestion-${index}`;
    pick.dataset.score = String(hit.score);
    const text = document.createElement("span");
    text.className = "suggestion-text";
    text.textContent = hit.text;
    const score = document.createElement("span");
    score.className = "suggestion-score muted";
    score.textContent = hit.score.toFixed(3);
    pick.append(text, score);
    pick.addEventListener("click", () => {
      const box = document.getElementById("prompt");
      box.value = hit.text;
      box.dispatchEvent(new Event("input"));  // the count, and the neighbours of the chosen prompt
      box.focus();
    });
    const item = document.createElement("li");
    item.append(pick);
    list.append(item);
  });
  const time = document.getElementById("suggest-time");
  time.textContent = data.hits.length ? `${data.search_ms.toFixed(1)} ms search · ${data.embed_ms.toFixed(1)} ms embed` : "";
}

// Wires the panel to the prompt box; without a prompt index the panel is removed from the page.
function startSuggestions(config) {
  const panel = document.getElementById("suggest-panel");
  if (!config.features.suggest) {
    panel.remove();
    return;
  }
  panel.hidden = false;
  const box = document.getElementById("prompt");
  const count = Math.min(SUGGEST_COUNT, config.limits.max_suggestions);
  let timer = null;
  let latest = 0;
  async function ask() {
    const query = box.value.trim();
    const asked = ++latest;
    if (!query || query.length > config.limits.max_prompt_chars) {
      showSuggestions({hits: [], search_ms: 0, embed_ms: 0});
      return;
    }
    try {
      const response = await fetch(`/api/suggest?q=${encodeURIComponent(query)}&k=${count}`);
      const data = await response.json();
      if (asked !== latest || !response.ok) return;  // a later keystroke's answer wins; a refusal shows nothing
      showSuggestions(data);
      panel.dataset.query = data.query;
    } catch (error) {
      if (asked === latest) showSuggestions({hits: [], search_ms: 0, embed_ms: 0});
    }
  }
  box.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(ask, SUGGEST_DELAY_MS);
  });
}
