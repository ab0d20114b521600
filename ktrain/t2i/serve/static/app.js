// kcli serve: build the form from /api/config, send /api/generate, show the image or the server's message.
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

function numberOrNull(id) {
  const text = $(id).value.trim();
  return text === "" ? null : Number(text);
}

function requestBody() {
  const loras = [...document.querySelectorAll(".lora")].filter((row) => row.querySelector(".lora-pick").checked)
    .map((row) => ({name: row.dataset.name, weight: Number(row.querySelector(".lora-weight").value)}));
  return {
    prompt: $("prompt").value, negative_prompt: $("negative").value, seed: numberOrNull("seed"),
    steps: numberOrNull("steps"), guidance: numberOrNull("guidance"), width: numberOrNull("width"),
    height: numberOrNull("height"), loras,
  };
}

function showResult(data) {
  $("image").src = data.image;
  const loras = data.loras.map((l) => `${l.name} × ${l.weight}`).join(", ") || "none";
  $("meta").textContent = `seed ${data.seed} · ${data.steps} steps · guidance ${data.guidance} · ` +
    `${data.width}×${data.height} · LoRA: ${loras}`;
  const body = $("timings").querySelector("tbody");
  body.replaceChildren();
  for (const [stage, seconds] of Object.entries(data.timings)) {
    const row = document.createElement("tr");
    row.dataset.stage = stage.replace(/_s$/, "");
    const name = document.createElement("td");
    name.textContent = row.dataset.stage;
    const value = document.createElement("td");
    value.textContent = `${(seconds * 1000).toFixed(1)} ms`;
    row.append(name, value);
    body.append(row);
  }
  $("result").hidden = false;
}

async function submit(event) {
  event.preventDefault();
  $("submit").disabled = true;
  showMessage("생성 중… (generating)", "info");
  try {
    const response = await fetch("/api/generate", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(requestBody()),
    });
    const data = await response.json().catch(() => ({error: `The server answered ${response.status}.`}));
    if (!response.ok) {
      showMessage(data.error || `The server answered ${response.status}.`, "error");
      return;
    }
    $("message").hidden = true;
    showResult(data);
  } catch (error) {
    showMessage(`Could not reach the server: ${error.message}`, "error");
  } finally {
    $("submit").disabled = false;
  }
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
  $("prompt").addEventListener("input", updateCount);
  $("form").addEventListener("submit", submit);
  updateCount();
  document.body.dataset.ready = "true";
}

init().catch((error) => showMessage(`Could not load the configuration: ${error.message}`, "error"));
