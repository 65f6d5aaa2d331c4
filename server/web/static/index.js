// `/`: the server and its products, updated live.
"use strict";

function formatUptime(seconds) {
  const minutes = Math.floor(seconds / 60);
  const hours = Math.floor(minutes / 60);
  const days = Math.floor(hours / 24);
  if (days) return `${days} d ${hours % 24} h`;
  if (hours) return `${hours} h ${minutes % 60} min`;
  return `${minutes} min ${Math.floor(seconds % 60)} s`;
}

function cell(row, text) {
  row.insertCell().textContent = text;
}

const shownProducts = new Map(); // id -> product, as last listed
let shownJson = "";

// Rebuilds the table only when something changed: a row replaced every second loses a slow click or tap.
function showProducts(products) {
  const json = JSON.stringify(products);
  if (json === shownJson) return;
  shownJson = json;
  shownProducts.clear();
  for (const product of products) shownProducts.set(product.id, product);
  const body = document.querySelector("#products tbody");
  body.replaceChildren();
  if (!products.length) {
    const cell = body.insertRow().insertCell();
    cell.colSpan = 7;
    cell.textContent = "no products yet";
  }
  for (const product of products) {
    const row = body.insertRow();
    row.className = "product";
    row.dataset.id = product.id;
    const link = document.createElement("a");
    link.href = `/products/${encodeURIComponent(product.id)}`;
    link.textContent = product.id;
    row.insertCell().append(link);
    cell(row, product.version);
    cell(row, product.threshold.toFixed(4));
    cell(row, product.bank_size);
    cell(row, product.images);
    cell(row, product.usable ? "yes" : "no");
    cell(row, product.status || "ready");
  }
}

function showServer(server) {
  document.getElementById("server-model").textContent = `${server.backbone} ${server.input_size} px`;
  document.getElementById("server-fingerprint").textContent = server.fingerprint.slice(0, 12);
  document.getElementById("server-version").textContent = server.version;
  document.getElementById("server-uptime").textContent = formatUptime(server.uptime_seconds);
  document.getElementById("server-rate").textContent = server.frames_per_second.toFixed(1);
}

async function main() {
  const role = await sessionRole();
  document.body.classList.toggle("read-only", role !== "admin");
  const status = document.getElementById("teach-status");
  acceptImages(document.getElementById("teach-drop"), document.getElementById("teach-files"), async (files) => {
    const productId = document.getElementById("new-product-id").value.trim();
    if (!productId) {
      status.textContent = "enter the new product's id first";
      return;
    }
    const existing = shownProducts.get(productId);
    if (existing) {
      status.textContent =
        `${productId} already exists (version ${existing.version}, ${existing.images} images): teaching it ` +
        "here would replace its images and threshold; to do that, drop the images on its own page";
      return;
    }
    await teachFrom(productId, files, status);
  });
  follow("/api/events", (event) => {
    if (event.error) {
      showConnection(event.error, false);
      return;
    }
    showServer(event.server);
    showProducts(event.products);
  });
}

main();
