"use strict";
// The page of `medbench app`: model card, upload, probability bars, CAM overlay (method chosen).
const $ = (id) => document.getElementById(id);
let maxBytes = Infinity;
let lastFile = null;  // explained again when another map is chosen

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  $("status").textContent = "";
}

async function loadModel() {
  const response = await fetch("api/model");
  const model = await response.json();
  maxBytes = model.max_bytes;
  const name = model.name ? `${model.name} version ${model.version}` : model.uri;
  $("model").textContent =
    `Model: ${name} (${model.backbone}, ${model.image_size} px${model.cell ? `, cell ${model.cell}` : ""}); ` +
    `classes: ${model.classes.join(", ")}`;
  const scores = Object.entries(model.metrics).map(([key, m]) =>
    `${key} ${m.value.toFixed(3)}` + (m.ci ? ` [${m.ci[0].toFixed(3)}, ${m.ci[1].toFixed(3)}]` : ""));
  $("scores").textContent = scores.length ? `Test set: ${scores.join(" · ")}` : "No test scores recorded for this model.";
  if (model.card) {
    $("card").textContent = model.card;  // the registered version's description, as text
    $("card-box").hidden = false;
  }
  $("limit").textContent = `Up to ${+(maxBytes / 2 ** 20).toPrecision(3)} MB. The image is not stored.`;
  const methods = $("method");
  for (const name of model.cam_methods) methods.append(new Option(name, name));
  methods.parentElement.hidden = !model.cam_methods.length;
}

function render(result) {
  $("label").textContent = result.label;
  $("confidence").textContent = `(${(100 * result.confidence).toFixed(1)} %)`;
  const bars = $("bars");
  bars.replaceChildren();
  for (const { class: name, probability } of result.probabilities) {
    const label = document.createElement("span");
    label.textContent = name;
    const bar = document.createElement("div");
    bar.className = name === result.label ? "bar top" : "bar";
    const fill = document.createElement("div");
    fill.style.width = `${(100 * probability).toFixed(1)}%`;
    bar.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = `${(100 * probability).toFixed(1)} %`;
    bars.append(label, bar, value);
  }
  $("input").src = result.input;
  if (result.overlay) {
    $("overlay").src = result.overlay;
    $("overlay-caption").textContent = `${result.cam_method} map of “${result.label}”`;
  }
  $("overlay").parentElement.hidden = !result.overlay;
  $("result").hidden = false;
}

async function classify(file) {
  lastFile = file;
  $("error").hidden = true;
  $("result").hidden = true;
  if (file.size > maxBytes) {
    showError(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB; the limit is ${+(maxBytes / 2 ** 20).toPrecision(3)} MB.`);
    return;
  }
  $("status").textContent = `Classifying ${file.name}…`;
  try {
    const method = $("method").value;
    const response = await fetch(method ? `api/predict?method=${encodeURIComponent(method)}` : "api/predict", {
      method: "POST",
      body: file,
      headers: { "Content-Type": "application/octet-stream" },
    });
    const body = await response.json();
    if (!response.ok) {
      showError(`${file.name}: ${body.detail}`);
      return;
    }
    $("status").textContent = `${file.name}`;
    render(body);
  } catch (error) {
    showError(`The server did not answer: ${error}`);
  }
}

window.addEventListener("DOMContentLoaded", () => {
  loadModel().catch((error) => showError(`Cannot load the model description: ${error}`));
  $("file").addEventListener("change", (event) => {
    if (event.target.files.length) classify(event.target.files[0]);
  });
  $("method").addEventListener("change", () => { if (lastFile) classify(lastFile); });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) classify(event.dataTransfer.files[0]);
  });
});
