// kcli serve: showing results. Timings tables, the side-by-side comparison and the gallery of past results.
// Every text is set with textContent (prompts and LoRA names are the user's).
"use strict";

const GALLERY_LIMIT = 50;  // past results kept on the page; older ones drop off the end

function fillTimings(tbody, timings) {
  tbody.replaceChildren();
  for (const [stage, seconds] of Object.entries(timings)) {
    const row = document.createElement("tr");
    row.dataset.stage = stage.replace(/_s$/, "");
    const name = document.createElement("td");
    name.textContent = row.dataset.stage;
    const value = document.createElement("td");
    value.textContent = `${(seconds * 1000).toFixed(1)} ms`;
    row.append(name, value);
    tbody.append(row);
  }
}

function describeResult(data) {
  const loras = data.loras.map((l) => `${l.name} × ${l.weight}`).join(", ") || "none";
  const stages = [data.upscale ? "upscaled x2" : "", data.refine ? "refined" : ""].filter(Boolean).join(" · ");
  return `seed ${data.seed} · ${data.steps} steps · guidance ${data.guidance} · ` +
    `${data.width}×${data.height} · LoRA: ${loras}` + (stages ? ` · ${stages}` : "");
}

function showSide(pipeline, data) {
  const side = document.querySelector(`#compare .side[data-pipeline="${pipeline}"]`);
  side.querySelector("img").src = data.image;
  side.querySelector(".used").textContent = data.prompt_used;
  fillTimings(side.querySelector("tbody"), data.timings);
  document.getElementById("compare").hidden = false;
}

function addToGallery(data) {
  const item = document.createElement("figure");
  item.className = "past";
  item.dataset.pipeline = data.pipeline;
  item.dataset.refined = String(data.refine);
  const image = document.createElement("img");
  image.src = data.image;
  image.alt = data.prompt;
  const caption = document.createElement("figcaption");
  caption.textContent = `${data.prompt} · ${data.pipeline}`;
  const meta = document.createElement("p");
  meta.className = "muted";
  meta.textContent = describeResult(data);
  const table = document.createElement("table");
  table.className = "timings";
  table.append(document.createElement("tbody"));
  fillTimings(table.querySelector("tbody"), data.timings);
  item.append(image, caption, meta, table);
  const gallery = document.getElementById("gallery");
  gallery.prepend(item);
  while (gallery.children.length > GALLERY_LIMIT) gallery.lastElementChild.remove();
  document.getElementById("gallery-empty").hidden = true;
}
