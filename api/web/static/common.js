// zincfluor web page: what every page shares. The API key lives in sessionStorage only (this
// tab); every call to /v1 sends it as a Bearer header. No inline scripts or styles: the page's
// content-security-policy allows this service's files only.
"use strict";

const ZF = (() => {
  const KEY = "zincfluor.apiKey";
  const body = document.body;
  const readyHandlers = [];
  let model = null;

  const key = () => sessionStorage.getItem(KEY);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    }
    return node;
  }

  function showError(id, message) {
    const node = document.getElementById(id);
    if (!node) return;
    node.textContent = message || "";
    node.hidden = !message;
    const field = document.querySelector(`[aria-describedby~="${id}"]`);
    if (field) field.setAttribute("aria-invalid", message ? "true" : "false");
  }

  class ApiError extends Error {
    constructor(status, message, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // fetch /v1 (or /web) with the key; JSON answers parsed; errors thrown as ApiError
  async function api(path, options = {}) {
    const headers = Object.assign({}, options.headers || {});
    if (key()) headers.Authorization = `Bearer ${key()}`;
    let response;
    try {
      response = await fetch(path, Object.assign({}, options, { headers }));
    } catch (error) {
      throw new ApiError(0, `the service did not answer (${error.message})`, "network");
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      let code = "error";
      try {
        const data = await response.json();
        message = data.error || message;
        code = data.code || code;
      } catch (ignored) { /* not JSON */ }
      if (response.status === 401 && path !== "/v1/models") signOut(message);
      throw new ApiError(response.status, message, code);
    }
    if (options.raw) return response;
    const type = response.headers.get("content-type") || "";
    return type.includes("json") ? response.json() : response.text();
  }

  // depictions: fetched with the key, shown as blob: images, cached per SMILES and size
  const depictions = new Map();
  async function depictionUrl(smiles, width = 160, height = 120) {
    const id = `${width}x${height}:${smiles}`;
    if (!depictions.has(id)) {
      const query = new URLSearchParams({ smiles, width, height });
      depictions.set(id, api(`/web/depict.svg?${query}`, { raw: true })
        .then((response) => response.blob())
        .then((blob) => URL.createObjectURL(blob)));
    }
    return depictions.get(id);
  }

  function svgImage(svgText, alt) {
    const blob = new Blob([svgText], { type: "image/svg+xml" });
    return el("img", { src: URL.createObjectURL(blob), alt, class: "depiction" });
  }

  function depiction(smiles, alt, width = 160, height = 120) {
    const img = el("img", { alt: alt || `structure of ${smiles}`, class: "depiction", width, height });
    if (smiles) {
      depictionUrl(smiles, width, height).then((url) => { img.src = url; })
        .catch(() => { img.alt = `no depiction for ${smiles}`; });
    }
    return img;
  }

  const fmt = {
    p: (x) => (x === null || x === undefined ? "" : Number(x).toFixed(3)),
    nm: (x) => (x === null || x === undefined ? "" : `${Number(x).toFixed(0)}`),
  };

  // one <meter> per level: the probability bars (no inline styles needed)
  function probabilityBars(record, levels, targets) {
    const list = el("dl", { class: "bars" });
    for (const level of levels) {
      const value = record[`p_${level}`];
      if (value === null || value === undefined) continue;
      const target = targets && targets.includes(level);
      list.append(
        el("dt", { class: target ? "target" : null, title: target ? "a target level" : null }, level),
        el("dd", {},
          el("meter", { min: 0, max: 1, value, "aria-label": `p(${level})`,
            class: record.level === level ? "most-probable" : null }),
          el("span", { class: "num" }, fmt.p(value))));
    }
    return list;
  }

  function emissionText(record) {
    if (record.emission_nm === null || record.emission_nm === undefined) return "";
    let text = `${fmt.nm(record.emission_nm)} nm`;
    if (record.emission_nm_low_90 !== undefined && record.emission_nm_low_90 !== null) {
      text += ` (90 %: ${fmt.nm(record.emission_nm_low_90)}–${fmt.nm(record.emission_nm_high_90)})`;
    } else if (record.emission_nm_low !== null && record.emission_nm_low !== undefined) {
      text += ` (80 %: ${fmt.nm(record.emission_nm_low)}–${fmt.nm(record.emission_nm_high)})`;
    }
    return text;
  }

  // the in_domain flag (absent for models without trust files)
  function domainText(record) {
    if (record.in_domain === undefined || record.in_domain === null) return "";
    const sim = record.nearest_similarity;
    const simText = sim === null || sim === undefined ? "" : ` (nearest ${Number(sim).toFixed(2)})`;
    return (record.in_domain ? "in domain" : "out of domain") + simText;
  }

  function predictionSetText(record) {
    const set = record.prediction_set;
    if (set === undefined || set === null) return "";
    return Array.isArray(set) ? set.join(", ") : String(set);
  }

  // a solvent's name from the page's solvent list (the start page's datalist), else null
  function solventName(smiles) {
    if (!smiles) return null;
    for (const option of document.querySelectorAll("#solvent-names option[data-smiles]")) {
      if (option.dataset.smiles === smiles) return option.value;
    }
    return null;
  }

  // the solvent a record was predicted in (its name, else its SMILES) and, when the
  // solvent-aware model was not trained on it, a visible flag
  function solventDetails(record) {
    const name = solventName(record.solvent);
    const dd = el("dd", { class: name ? "solvent" : "solvent smiles", title: name ? record.solvent : null },
      name || record.solvent);
    if (record.solvent_seen === false) {
      dd.append(" ", el("span", { class: "flag-out flag-unseen",
        title: "The solvent-aware model was not trained in this solvent: its answer is read from the solvent's descriptors or structure alone." },
      "solvent not seen in training"));
    }
    return dd;
  }

  // the record's fields as a definition list; trust and solvent fields only when the service
  // sends them
  function recordList(record) {
    const list = el("dl", { class: "record" });
    const add = (term, value, cls) => {
      if (value === null || value === undefined || value === "") return;
      list.append(el("dt", {}, term), el("dd", { class: cls || null }, value));
    };
    add("Status", record.status, `status-${record.status}`);
    add("Reason", record.reason);
    add("Notes", record.notes);
    add("Canonical SMILES", record.canonical_smiles, "smiles");
    if (record.solvent) list.append(el("dt", {}, "Solvent"), solventDetails(record));
    add("Level", record.level);
    add("Rare score", record.rare_score === null || record.rare_score === undefined
      ? "" : fmt.p(record.rare_score));
    add("Rare score spread (ensemble)", record.rare_score_std === undefined || record.rare_score_std === null
      ? "" : fmt.p(record.rare_score_std));
    add("Prediction set (90 %)", predictionSetText(record));
    add("Emission maximum", emissionText(record));
    add("Applicability domain", domainText(record));
    add("Rank", record.rank);
    add("InChIKey", record.inchikey);
    return list;
  }

  // the predicted emission as a small inline SVG: the level probabilities over the nm axis
  // (bars between the scheme's edges), the median and interval as a line and a band
  function wavelengthPlot(record, levels) {
    const edges = JSON.parse(body.dataset.edges || "[]");
    if (!edges.length || edges.length !== levels.length - 1) return null;
    const W = 360, H = 150, left = 30, right = 10, top = 10, bottom = 30;
    const lo = Math.max(250, edges[0] - 80), hi = edges[edges.length - 1] + 120;
    const bounds = [lo, ...edges, hi];
    const x = (nm) => left + ((Math.min(Math.max(nm, lo), hi) - lo) / (hi - lo)) * (W - left - right);
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    const node = (tag, attrs, text) => {
      const n = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
      if (text !== undefined) n.textContent = text;
      svg.append(n);
      return n;
    };
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    svg.setAttribute("role", "img");
    svg.setAttribute("class", "wavelength-plot");
    const maxP = Math.max(0.01, ...levels.map((l) => Number(record[`p_${l}`] || 0)));
    const plotH = H - top - bottom;
    const summary = [];
    levels.forEach((level, i) => {
      const p = Number(record[`p_${level}`] || 0);
      const h = (p / maxP) * plotH;
      const x0 = x(bounds[i]), x1 = x(bounds[i + 1]);
      node("rect", { x: x0 + 1, y: top + plotH - h, width: Math.max(1, x1 - x0 - 2), height: h,
        class: `bar level-${i}` }).append(Object.assign(document.createElementNS(ns, "title"),
        { textContent: `${level}: ${fmt.p(p)}` }));
      summary.push(`${level} ${fmt.p(p)}`);
    });
    const low = record.emission_nm_low_90 ?? record.emission_nm_low;
    const high = record.emission_nm_high_90 ?? record.emission_nm_high;
    if (low !== null && low !== undefined && high !== null && high !== undefined) {
      node("rect", { x: x(low), y: top, width: Math.max(1, x(high) - x(low)), height: plotH,
        class: "interval" });
    }
    if (record.emission_nm !== null && record.emission_nm !== undefined) {
      node("line", { x1: x(record.emission_nm), x2: x(record.emission_nm), y1: top,
        y2: top + plotH, class: "median" });
      summary.push(`emission ${emissionText(record)}`);
    }
    node("line", { x1: left, x2: W - right, y1: top + plotH, y2: top + plotH, class: "axis" });
    for (const edge of [lo, ...edges.filter((_, i) => i % 2 === 0), hi]) {
      node("text", { x: x(edge), y: H - 12, class: "tick", "text-anchor": "middle" }, `${edge}`);
    }
    node("text", { x: W - right, y: H - 1, class: "tick", "text-anchor": "end" },
      body.dataset.unit || "nm");
    svg.setAttribute("aria-label", `Predicted emission: ${summary.join(", ")}`);
    return svg;
  }

  async function loadModel() {
    const data = await api("/v1/models");
    model = data.models[0];
    return model;
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    showSignIn(message);
  }

  function showSignIn(message) {
    document.getElementById("app").hidden = true;
    document.getElementById("signed-in").hidden = true;
    document.getElementById("sign-in").hidden = false;
    showError("api-key-error", message || "");
    document.getElementById("api-key").focus();
  }

  async function start() {
    document.getElementById("app").hidden = false;
    document.getElementById("sign-in").hidden = true;
    document.getElementById("signed-in").hidden = false;
    document.getElementById("signed-in-as").textContent =
      `Signed in (${model.name}: ${model.levels.length} levels, target ${model.target_levels.join(", ")})`;
    for (const handler of readyHandlers) await handler(model);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = document.getElementById("api-key").value.trim();
      if (!value) {
        showError("api-key-error", "Enter an API key (zf_...).");
        return;
      }
      sessionStorage.setItem(KEY, value);
      try {
        await loadModel();
      } catch (error) {
        sessionStorage.removeItem(KEY);
        showError("api-key-error", error.status === 401
          ? `The service refused this key: ${error.message}.` : error.message);
        return;
      }
      showError("api-key-error", "");
      document.getElementById("api-key").value = "";
      await start();
    });
    document.getElementById("sign-out").addEventListener("click", () => signOut(""));
    if (!key()) {
      showSignIn("");
      return;
    }
    try {
      await loadModel();
    } catch (error) {
      signOut(error.status === 401 ? `The service refused the saved key: ${error.message}.` : error.message);
      return;
    }
    await start();
  });

  return {
    api, el, showError, depiction, depictionUrl, svgImage, fmt, probabilityBars, emissionText,
    domainText, predictionSetText, recordList, solventName, wavelengthPlot,
    onReady: (handler) => readyHandlers.push(handler),
    model: () => model,
  };
})();
