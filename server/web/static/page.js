// What both pages share: the token (asked for once per browser tab, kept in sessionStorage, sent as an
// Authorization header, never in a URL), calls to /api, and reading the server's live event streams.
"use strict";

const TOKEN_KEY = "patchcore-token";
const PAGE_HEADER = "X-Patchcore-Page";

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: "Bearer " + token } : {};
}

// Every request of the page: the token, and the header the server asks of changes, which a form or a page of
// another site cannot send without the browser asking the server first (server/web/access.py).
function pageHeaders() {
  return { ...authHeaders(), [PAGE_HEADER]: "1" };
}

// Shows the token form and resolves once a token is entered.
function askForToken(reason) {
  return new Promise((resolve) => {
    const form = document.getElementById("token-form");
    document.getElementById("token-reason").textContent = reason;
    form.hidden = false;
    document.getElementById("token").focus();
    form.onsubmit = (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value);
      document.getElementById("token").value = "";
      form.hidden = true;
      resolve();
    };
  });
}

async function errorText(response) {
  try {
    return (await response.json()).error;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

// fetch() with the token; asks for a token when the server wants one (401) and tries again. Rejects with
// an Error the operator can read when the server cannot be reached (the browser's own says "Failed to fetch").
async function api(url, options = {}) {
  for (;;) {
    const headers = { ...(options.headers || {}), ...pageHeaders() };
    let response;
    try {
      response = await fetch(url, { ...options, headers });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new Error("the server cannot be reached (stopped, or the network is down)");
    }
    if (response.status !== 401) return response;
    sessionStorage.removeItem(TOKEN_KEY);
    await askForToken(await errorText(response));
  }
}

// POSTs `body` (FormData, or an object sent as JSON); resolves to the answer's JSON, rejects with its error.
async function post(url, body) {
  const options = body instanceof FormData
    ? { method: "POST", body }
    : { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } };
  const response = await api(url, options);
  if (!response.ok) throw new Error(await errorText(response));
  return response.json();
}

// The token's role ("admin" or "inspect"); the page offers changes only to admin.
async function sessionRole() {
  const response = await api("/api/session");
  return response.ok ? (await response.json()).role : "none";
}

function showConnection(text, live) {
  const element = document.getElementById("connection");
  element.textContent = text;
  element.classList.toggle("live", live);
}

// Reads the server-sent events at `url` and calls onEvent(object) for each. An error (e.g. the product is
// not taught yet, or was deleted) is passed on as {error}; then, as when the stream breaks (the server
// restarted), it tries again every 2 s. It stops when the page is left, so the browser closes the connection.
// onConnected() is called each time a stream opens, before its first event.
async function follow(url, onEvent, onConnected = () => {}) {
  const leaving = new AbortController();
  addEventListener("pagehide", () => leaving.abort());
  while (!leaving.signal.aborted) {
    try {
      const response = await api(url, { signal: leaving.signal });
      if (!response.ok) {
        onEvent({ error: await errorText(response) });
        throw new Error(`${response.status}`);
      }
      showConnection("live", true);
      onConnected();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith("data: ")) onEvent(JSON.parse(block.slice(6))); // else a keep-alive comment
        }
      }
    } catch (error) {
      console.warn("event stream lost:", error);
    }
    showConnection("reconnecting ...", false);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

// Teach from image files: sends them as the good images of `productId`; reports on `status`.
async function teachFrom(productId, files, status) {
  const form = new FormData();
  for (const file of files) form.append("images", file, file.name);
  status.textContent = `teaching ${productId} from ${files.length} image(s) ...`;
  try {
    const product = await post(`/api/products/${encodeURIComponent(productId)}/teach`, form);
    status.textContent = `taught ${product.id}: version ${product.version}, threshold ${product.threshold.toFixed(4)}`;
    const unlike = product.outlier_images.map((index) => files[index].name);
    if (unlike.length) {
      status.textContent +=
        `. ${unlike.join(", ")} ${unlike.length > 1 ? "look" : "looks"} unlike the other good images: ` +
        "if one is not a good part, teach again without it";
    }
    return product;
  } catch (error) {
    status.textContent = `teach failed: ${error.message}`;
    return null;
  }
}

// Makes `zone` take dropped image files (and its file input chosen ones) and hand them to `take(files)`.
function acceptImages(zone, input, take) {
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    take([...event.dataTransfer.files]);
  });
  input.addEventListener("change", () => {
    take([...input.files]);
    input.value = "";
  });
}
