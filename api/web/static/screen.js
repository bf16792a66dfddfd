// A screen: progress (polled), the ranked results page by page with filters, CSV downloads.
"use strict";

(() => {
  const { api, el, showError, fmt } = ZF;
  const screenId = document.body.dataset.screenId;
  const base = `/v1/screens/${screenId}`;
  let screen = null;
  let cursors = [null];  // cursor of each page shown so far (first page: none)
  let page = 0;
  let lastStatus = null;

  function filters() {
    const form = document.getElementById("filters");
    return {
      level: form.level.value,
      minScore: form.min_score.value,
      domain: form.domain.value,
      limit: form.limit.value,
    };
  }

  function inputLabel(record) {
    const input = record.input || {};
    const id = screen.id_column ? input[screen.id_column] : null;
    return id === null || id === undefined || id === "" ? `row ${record.row}` : String(id);
  }

  function header(model) {
    const head = document.querySelector("#results thead");
    head.replaceChildren(el("tr", {},
      ...["Rank", "Structure", "Molecule", "Level", "Rare score", "Probabilities",
        "Emission (nm)", "Domain"].map((name) => el("th", { scope: "col" }, name))));
    const select = document.getElementById("filter-level");
    if (select.options.length === 1) {
      for (const level of model.levels) select.append(el("option", { value: level }, level));
    }
  }

  function row(record, model) {
    const link = el("a", { href: `/screens/${screenId}/rows/${record.row}` }, inputLabel(record));
    const domain = ZF.domainText(record);
    return el("tr", { class: record.in_domain === false ? "out-of-domain" : null },
      el("td", { class: "num" }, record.rank ?? ""),
      el("td", {}, record.canonical_smiles
        ? ZF.depiction(record.canonical_smiles, `structure of ${inputLabel(record)}`, 140, 100) : ""),
      el("td", {}, link, el("div", { class: "smiles muted" }, record.canonical_smiles || "")),
      el("td", {}, record.level || record.status,
        ZF.predictionSetText(record) ? el("div", { class: "muted" }, `set: ${ZF.predictionSetText(record)}`) : null),
      el("td", { class: "num" }, fmt.p(record.rare_score)),
      el("td", { class: "bars-cell" }, ZF.probabilityBars(record, model.levels, screen.target_levels)),
      el("td", { class: "num" }, ZF.emissionText(record).replace(" nm", "")),
      el("td", { class: record.in_domain === false ? "flag-out" : null },
        domain || el("span", { class: "muted", title: "this model has no applicability-domain files" }, "n/a")));
  }

  async function loadPage() {
    showError("filters-error", "");
    const model = ZF.model();
    const f = filters();
    const query = new URLSearchParams({ order: "rare", limit: f.limit });
    if (f.level) query.set("level", f.level);
    if (f.minScore && Number(f.minScore) > 0) query.set("min_score", f.minScore);
    if (cursors[page]) query.set("cursor", cursors[page]);
    let data;
    try {
      data = await api(`${base}/results?${query}`);
    } catch (error) {
      showError("filters-error", error.message);
      return;
    }
    let results = data.results;
    const hasDomain = results.some((r) => r.in_domain !== undefined && r.in_domain !== null);
    const note = document.getElementById("domain-note");
    if (f.domain && hasDomain) {
      results = results.filter((r) => (f.domain === "in") === Boolean(r.in_domain));
      note.textContent = `Domain filter applied to this page: ${results.length} of ${data.results.length} rows.`;
      note.hidden = false;
    } else if (f.domain) {
      note.textContent = "This model has no applicability-domain files: the domain filter does not apply.";
      note.hidden = false;
    } else {
      note.hidden = true;
    }
    header(model);
    document.querySelector("#results tbody").replaceChildren(...results.map((r) => row(r, model)));
    document.getElementById("results-empty").hidden = results.length > 0;
    cursors = cursors.slice(0, page + 1);
    cursors.push(data.next_cursor);
    document.getElementById("next-page").disabled = !data.next_cursor;
    document.getElementById("first-page").disabled = page === 0;
    document.getElementById("page-info").textContent = `page ${page + 1}`;
  }

  async function poll() {
    try {
      screen = await api(base);
    } catch (error) {
      showError("screen-error", error.message);
      return;
    }
    document.getElementById("screen-title").textContent = `Screen ${screen.name || screen.id}`;
    document.getElementById("screen-progress").value = screen.progress;
    const c = screen.counts;
    let status = `${screen.status}: ${c.done} of ${c.total} molecules processed, ${c.invalid} invalid; target levels ${screen.target_levels.join(", ")}`;
    if (screen.error) status += `; error: ${screen.error}`;
    document.getElementById("screen-status").textContent = status;
    if (screen.status !== lastStatus || (screen.status === "running" && page === 0)) {
      lastStatus = screen.status;
      await loadPage();
    }
    if (screen.status === "queued" || screen.status === "running") setTimeout(poll, 1000);
  }

  async function download(query, filename) {
    showError("download-error", "");
    try {
      const response = await api(`${base}/results.csv?${query}`, { raw: true });
      const blob = await response.blob();
      const link = el("a", { href: URL.createObjectURL(blob), download: filename });
      document.body.append(link);
      link.click();
      link.remove();
    } catch (error) {
      showError("download-error", error.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      const score = Number(document.getElementById("filter-score").value);
      if (Number.isNaN(score) || score < 0 || score > 1) {
        showError("filters-error", "Rare score must be between 0 and 1.");
        return;
      }
      cursors = [null];
      page = 0;
      loadPage();
    });
    document.getElementById("next-page").addEventListener("click", () => { page += 1; loadPage(); });
    document.getElementById("first-page").addEventListener("click", () => { page = 0; cursors = [null]; loadPage(); });
    document.getElementById("download-csv").addEventListener("click",
      () => download("order=input", `screen-${screenId}.csv`));
    document.getElementById("download-csv-top").addEventListener("click",
      () => download("order=rare", `screen-${screenId}-ranked.csv`));
  });
  ZF.onReady(poll);
})();
