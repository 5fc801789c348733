"use strict";
// The page of `medbench app`: model card, upload, probability bars, CAM overlay (method chosen).
const $ = (id) => document.getElementById(id);
let maxBytes = Infinity;
let lastFile = null;  // explained again when another map is chosen
const percent = (p) => `${(100 * p).toFixed(1)} %`;

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
    `${model.task === "multilabel" ? "labels" : "classes"}: ${model.classes.join(", ")}` +
    (model.task === "binary" ? `; “${model.positive}” when its probability ≥ ${percent(model.thresholds[model.positive])}` : "");
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

// One row of the bars: the name, the bar (marked when chosen; a threshold drawn on it when
// the class has one) and its probability (against the threshold, when there is one).
function bar(name, probability, chosen, threshold) {
  const label = document.createElement("span");
  label.textContent = name;
  const track = document.createElement("div");
  track.className = chosen ? "bar top" : "bar";
  const fill = document.createElement("div");
  fill.style.width = `${(100 * probability).toFixed(1)}%`;
  track.append(fill);
  const value = document.createElement("span");
  value.className = "value";
  value.textContent = percent(probability);
  if (threshold !== undefined) {
    const cut = document.createElement("span");
    cut.className = "cut";
    cut.title = `threshold ${percent(threshold)}`;
    cut.style.left = `${(100 * Math.min(Math.max(threshold, 0), 1)).toFixed(1)}%`;
    track.append(cut);
    value.textContent += ` ${probability >= threshold ? "≥" : "<"} ${percent(threshold)}`;
  }
  return [label, track, value];
}

// The maps: the first in the page's own figure, any others (labels found) in figures after it.
function showMaps(method, maps) {
  for (const extra of document.querySelectorAll(".images .extra")) extra.remove();
  const first = $("overlay").parentElement;
  first.hidden = !maps.length;
  maps.forEach(({ name, overlay }, i) => {
    let figure = first;
    if (i) {
      figure = first.cloneNode(true);
      figure.classList.add("extra");
      figure.querySelector("img").removeAttribute("id");
      figure.querySelector("figcaption").removeAttribute("id");
      figure.hidden = false;
      first.parentElement.append(figure);
    }
    figure.querySelector("img").src = overlay;
    figure.querySelector("figcaption").textContent = `${method} map of “${name}”`;
  });
}

function render(result) {
  const bars = $("bars");
  bars.replaceChildren();
  let maps;
  if (Array.isArray(result.labels)) {  // multi-label: every label found, each against its threshold
    $("label").textContent = result.labels.length ? result.labels.join(", ") : "no label above its threshold";
    $("confidence").textContent = "";
    for (const { class: name, probability, threshold, found } of result.probabilities) {
      bars.append(...bar(name, probability, found, threshold));
    }
    maps = result.overlays.map(({ class: name, overlay }) => ({ name, overlay }));
  } else {  // one class: the likeliest, or a binary model's at the positive class's threshold
    $("label").textContent = result.label;
    $("confidence").textContent = `(${percent(result.confidence)})`;
    for (const { class: name, probability } of result.probabilities) {
      const threshold = name === result.positive ? result.threshold : undefined;
      bars.append(...bar(name, probability, name === result.label, threshold));
    }
    maps = result.overlay ? [{ name: result.label, overlay: result.overlay }] : [];
  }
  $("input").src = result.input;
  showMaps(result.cam_method, maps);
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
