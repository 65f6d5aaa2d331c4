// A product's page: its recent frames and scores, live; the threshold tried on them, then applied.
"use strict";

const FRAMES_SHOWN = 48;
const SCORES_KEPT = 1000;
const productId = decodeURIComponent(location.pathname.split("/")[2]);
const productUrl = `/api/products/${encodeURIComponent(productId)}`;
const state = { product: null, frames: [], scores: [], role: "none", streamError: null };

const thresholdInput = document.getElementById("threshold");
const message = document.getElementById("message");

// The threshold being tried: the input's value when it is a number other than the product's threshold as the
// field shows it (rounded: the stored float32 is never what the field holds).
function trialThreshold() {
  const value = parseFloat(thresholdInput.value);
  if (!Number.isFinite(value) || !state.product || value === shownThreshold(state.product.threshold)) return null;
  return value;
}

// A threshold as the operator reads and types it: float32 noise (0.09014107286930084) rounded away.
function shownThreshold(threshold) {
  return Number(threshold.toPrecision(6));
}

// A server time (seconds since 1970) as the operator's clock shows it.
function localTime(unix) {
  return new Date(unix * 1000).toLocaleTimeString();
}

function verdictAt(score, threshold) {
  return score > threshold ? "anomalous" : "good";
}

function showProduct(product) {
  const changed = !state.product || state.product.version !== product.version;
  state.product = product;
  document.getElementById("version").textContent = product.version;
  document.getElementById("current-threshold").textContent = product.threshold.toFixed(4);
  document.getElementById("bank-size").textContent = product.bank_size;
  document.getElementById("images").textContent = product.images;
  document.getElementById("outlier-images").textContent = product.outlier_images.length
    ? product.outlier_images.join(", ")
    : "none";
  document.getElementById("status").textContent = product.status || (product.usable ? "ready" : "");
  if (changed && document.activeElement !== thresholdInput) thresholdInput.value = shownThreshold(product.threshold);
}

// The product cannot be shown (deleted, or unreadable): its summary must not stay on show as if it held.
function clearProduct(reason) {
  state.product = null;
  for (const id of ["version", "current-threshold", "bank-size", "images", "outlier-images"]) {
    document.getElementById(id).textContent = "";
  }
  document.getElementById("status").textContent = reason;
}

// Frames of this product answered with an error (undecodable, unusable product, ...): a camera that sends
// frames that all fail would otherwise look like one that sends nothing.
function showFailures(failures) {
  const element = document.getElementById("failures");
  element.hidden = !failures.count;
  element.textContent = failures.count
    ? `${failures.count} frame(s) failed since the server started; the last at ` +
      `${localTime(failures.unix)}: ${failures.last}`
    : "";
}

function frameElement(frame) {
  const element = document.createElement("figure");
  element.className = `frame ${frame.anomalous ? "anomalous" : "good"}`;
  element.dataset.seq = frame.seq;
  element.dataset.frameId = frame.frame_id;
  element.dataset.score = frame.score;
  const image = document.createElement("img");
  image.src = frame.thumbnail;
  image.alt = `frame ${frame.seq}`;
  image.addEventListener("click", () => openLarge(frame));
  const caption = document.createElement("figcaption");
  caption.innerHTML =
    '<span class="score"></span> <span class="verdict"></span> <span class="trial"></span> <span class="when"></span>';
  caption.querySelector(".when").textContent = `frame_id ${frame.frame_id}, ${localTime(frame.unix)}`;
  caption.querySelector(".score").textContent = frame.score.toFixed(4);
  caption.querySelector(".verdict").textContent = frame.anomalous ? "anomalous" : "good";
  element.append(image, caption);
  if (frame.anomalous && frame.good_part_kept) {
    const button = document.createElement("button");
    button.className = "good-part admin-only";
    button.textContent = "This is a good part";
    button.addEventListener("click", () => addGoodPart(frame, button));
    element.append(button);
  }
  return element;
}

function markTrial() {
  const trial = trialThreshold();
  let flagged = 0;
  for (const element of document.querySelectorAll("#frames .frame")) {
    const mark = element.querySelector(".trial");
    if (trial === null) {
      delete element.dataset.trial;
      mark.textContent = "";
      continue;
    }
    const verdict = verdictAt(parseFloat(element.dataset.score), trial);
    flagged += verdict === "anomalous";
    element.dataset.trial = verdict;
    mark.textContent = `at ${trial}: ${verdict}`;
  }
  document.getElementById("trial-summary").textContent = trial === null
    ? ""
    : `at ${trial}: ${flagged} of ${state.frames.length} recent frames flagged`;
  histogram.update(state.scores, state.product ? state.product.threshold : 0, trial);
}

function addFrames(frames) {
  const container = document.getElementById("frames");
  for (const frame of frames) {
    state.frames.unshift(frame);
    container.prepend(frameElement(frame));
  }
  while (state.frames.length > FRAMES_SHOWN) {
    state.frames.pop();
    container.lastElementChild.remove();
  }
}

async function openLarge(frame) {
  let picture;
  try {
    const response = await api(`${productUrl}/frames/${frame.id}/large.jpg`);
    if (!response.ok) throw new Error(await errorText(response));
    picture = await response.blob();
  } catch (error) {
    message.textContent = `frame_id ${frame.frame_id} not opened: ${error.message}`;
    return;
  }
  const image = document.getElementById("large-image");
  URL.revokeObjectURL(image.src);
  image.src = URL.createObjectURL(picture);
  document.getElementById("large-caption").textContent =
    `frame_id ${frame.frame_id} at ${localTime(frame.unix)}: score ${frame.score.toFixed(4)}, ` +
    `${frame.anomalous ? "anomalous" : "good"} at ` +
    `threshold ${frame.threshold.toFixed(4)} (version ${frame.version}), ${frame.regions} region(s)`;
  document.getElementById("large").showModal();
}

async function applyThreshold() {
  if (!state.product) {
    message.textContent = "not applied: the product is not shown yet";
    return;
  }
  const threshold = parseFloat(thresholdInput.value);
  if (threshold === shownThreshold(state.product.threshold)) {
    message.textContent = `the threshold is ${threshold} already: nothing to apply`;
    return;
  }
  try {
    const product = await post(`${productUrl}/threshold`, { threshold, expected_version: state.product.version });
    showProduct(product);
    thresholdInput.value = shownThreshold(product.threshold);
    message.textContent = `threshold ${shownThreshold(product.threshold)} applied: version ${product.version}`;
  } catch (error) {
    message.textContent = `not applied: ${error.message}`;
  }
  markTrial();
}

async function addGoodPart(frame, button) {
  button.disabled = true;
  try {
    const before = state.product.threshold;
    const product = await post(`${productUrl}/frames/${frame.id}/good`, {
      expected_version: state.product.version,
    });
    showProduct(product);
    message.textContent =
      `frame_id ${frame.frame_id} added as a good part: version ${product.version}, threshold ` +
      `${before.toFixed(4)} -> ${product.threshold.toFixed(4)}`;
    if (product.outlier_images.includes(product.images - 1)) {
      message.textContent +=
        ". It looks unlike the other good images: if it is not a good part, teach the product again without it";
    }
  } catch (error) {
    message.textContent = `not added: ${error.message}`;
    button.disabled = false;
  }
}

const histogram = new ScoreHistogram(document.getElementById("histogram"));

async function main() {
  document.getElementById("product-id").textContent = productId;
  document.title = `${productId}: patchcore-edge`;
  state.role = await sessionRole();
  document.body.classList.toggle("read-only", state.role !== "admin");
  document.getElementById("apply-threshold").addEventListener("click", applyThreshold);
  thresholdInput.addEventListener("input", markTrial);
  acceptImages(document.getElementById("teach-drop"), document.getElementById("teach-files"), (files) =>
    teachFrom(productId, files, document.getElementById("teach-status")),
  );
  // Each connection's first event carries every kept frame and score: start again from it (after a
  // restart the old frames are gone, and after a dropped connection they would come twice).
  const clearFrames = () => {
    state.frames = [];
    state.scores = [];
    document.getElementById("frames").replaceChildren();
  };
  follow(`${productUrl}/events`, (event) => {
    if (event.error) {
      // The product is gone or cannot be read: its old frames must not stay on show as if live.
      message.textContent = state.streamError = event.error;
      showConnection("not live", false);
      clearProduct(event.error);
      clearFrames();
      markTrial();
      return;
    }
    if (message.textContent === state.streamError) message.textContent = "";
    showProduct(event.product);
    showFailures(event.failures);
    addFrames(event.frames);
    state.scores = state.scores.concat(event.scores).slice(-SCORES_KEPT);
    markTrial();
  }, clearFrames);
}

main();
