// kcli serve: build the form from /api/config, send /api/generate, show the image or the server's message.
// Showing results (timings, comparison, gallery) lives in results.js; prompt suggestions in suggest.js.
"use strict";

const $ = (id) => document.getElementById(id);
let config = null;

function showMessage(text, kind) {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = false;
}

function updateCount() {
  const length = $("prompt").value.trim().length;
  const limit = config ? config.limits.max_prompt_chars : 0;
  $("count").textContent = `${length} / ${limit}`;
  $("count").classList.toggle("over", length > limit);
}

// A LoRA's name may be any script ("수묵화 LoRA"): it is only ever set as text or a data attribute, never
// put into an id, a selector or markup; ids count the LoRAs instead.
function buildLoras(names) {
  const box = $("loras");
  $("no-loras").hidden = names.length > 0;
  names.forEach((name, index) => {
    const row = document.createElement("div");
    row.className = "lora";
    row.dataset.name = name;
    const pick = document.createElement("input");
    pick.type = "checkbox";
    pick.className = "lora-pick";
    pick.id = `lora-${index}`;
    const label = document.createElement("label");
    label.htmlFor = pick.id;
    label.textContent = name;
    const weight = document.createElement("input");
    weight.type = "number";
    weight.className = "lora-weight";
    weight.step = "0.1";
    weight.value = "1.0";
    weight.title = `weight of ${name}`;
    row.append(pick, label, weight);
    box.append(row);
  });
}

function buildStages(features, model) {
  $("refine-row").hidden = !features.refiner;
  $("upscale-row").hidden = !features.upscaler;
  $("stages").hidden = !(features.refiner || features.upscaler);
  if (features.refiner) {
    $("refine-prompt").textContent = `refiner: ${model.refiner} · refine prompt: ${model.refine_prompt}`;
    $("refine-prompt").hidden = false;
  }
  $("compare-button").hidden = !features.pipelines.includes("translate");
}

function numberOrNull(id) {
  const text = $(id).value.trim();
  return text === "" ? null : Number(text);
}

function requestBody(pipeline = "ko-encoder", seed = numberOrNull("seed")) {
  const loras = [...document.querySelectorAll(".lora")].filter((row) => row.querySelector(".lora-pick").checked)
    .map((row) => ({name: row.dataset.name, weight: Number(row.querySelector(".lora-weight").value)}));
  return {
    prompt: $("prompt").value, negative_prompt: $("negative").value, seed,
    steps: numberOrNull("steps"), guidance: numberOrNull("guidance"), width: numberOrNull("width"),
    height: numberOrNull("height"), loras, pipeline, refine: $("refine").checked, upscale: $("upscale").checked,
  };
}

function showResult(data) {
  $("image").src = data.image;
  $("meta").textContent = describeResult(data);
  fillTimings($("timings").querySelector("tbody"), data.timings);
  $("result").hidden = false;
}

// One request; the parsed answer, or null after showing the server's message.
async function render(body) {
  const response = await fetch("/api/generate", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({error: `The server answered ${response.status}.`}));
  if (!response.ok) {
    showMessage(data.error || `The server answered ${response.status}.`, "error");
    return null;
  }
  return data;
}

async function busy(work) {
  $("submit").disabled = $("compare-button").disabled = true;
  showMessage("생성 중… (generating)", "info");
  try {
    if (await work()) $("message").hidden = true;
  } catch (error) {
    showMessage(`Could not reach the server: ${error.message}`, "error");
  } finally {
    $("submit").disabled = $("compare-button").disabled = false;
  }
}

function submit(event) {
  event.preventDefault();
  return busy(async () => {
    const data = await render(requestBody());
    if (!data) return false;
    showResult(data);
    addToGallery(data);
    return true;
  });
}

// The same prompt and seed through both paths: the Korean encoder, then translate-then-generate.
function compare() {
  return busy(async () => {
    const korean = await render(requestBody("ko-encoder"));
    if (!korean) return false;
    showSide("ko-encoder", korean);
    addToGallery(korean);
    const translated = await render(requestBody("translate", korean.seed));
    if (!translated) return false;
    showSide("translate", translated);
    addToGallery(translated);
    return true;
  });
}

async function init() {
  config = await (await fetch("/api/config")).json();
  const model = config.model;
  $("model").textContent = `base ${model.base} · text encoder ${model.text_encoder} · ${model.device}`;
  $("steps").placeholder = config.defaults.steps;
  $("steps").max = config.limits.max_steps;
  $("guidance").placeholder = config.defaults.guidance;
  for (const id of ["width", "height"]) {
    $(id).placeholder = config.defaults.size;
    $(id).step = config.limits.size_multiple;
    $(id).max = config.limits.max_image_size;
  }
  buildLoras(config.loras);
  buildStages(config.features, model);
  startSuggestions(config);
  $("prompt").addEventListener("input", updateCount);
  $("form").addEventListener("submit", submit);
  $("compare-button").addEventListener("click", compare);
  updateCount();
  document.body.dataset.ready = "true";
}

init().catch((error) => showMessage(`Could not load the configuration: ${error.message}`, "error"));
