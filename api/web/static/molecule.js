// One molecule of a screen: its record, structure, predicted emission and, where the service
// has them (a model with trust files), atom attributions and the nearest measured molecules.
"use strict";

(() => {
  const { api, el, showError } = ZF;
  const screenId = document.body.dataset.screenId;
  const row = document.body.dataset.row;

  function neighbourTable(neighbours) {
    const table = el("table", { class: "table neighbours" },
      el("caption", { class: "visually-hidden" }, "Nearest measured training molecules"),
      el("thead", {}, el("tr", {}, ...["Structure", "SMILES", "Similarity", "Measured emission (nm)",
        "Level", "Reference"].map((name) => el("th", { scope: "col" }, name)))));
    const body = el("tbody");
    for (const n of neighbours) {
      const ref = n.doi_url || n.url || null;
      body.append(el("tr", {},
        el("td", {}, n.svg ? ZF.svgImage(n.svg, `structure of ${n.smiles}`)
          : ZF.depiction(n.smiles, `structure of ${n.smiles}`, 140, 100)),
        el("td", { class: "smiles" }, n.smiles),
        el("td", { class: "num" }, n.similarity === undefined ? "" : Number(n.similarity).toFixed(2)),
        el("td", { class: "num" }, n.emission_nm === undefined || n.emission_nm === null ? "" : Number(n.emission_nm).toFixed(0)),
        el("td", {}, n.level || ""),
        el("td", {}, ref ? el("a", { href: ref, rel: "noreferrer" }, n.reference || ref) : (n.reference || ""))));
    }
    table.append(body);
    return table;
  }

  // the attribution images of the per-molecule endpoint: {name: {svg, ...}} or a list of them
  function attributionImages(attributions) {
    if (!attributions) return [];
    const entries = Array.isArray(attributions)
      ? attributions.map((a, i) => [a.target || a.name || `attribution ${i + 1}`, a])
      : Object.entries(attributions);
    return entries.filter(([, a]) => a && a.svg).map(([name, a]) => {
      const label = `Atom attributions for ${String(name).replace(/_/g, " ")}`;
      return el("figure", { class: "figure" }, el("figcaption", {}, label), ZF.svgImage(a.svg, label));
    });
  }

  async function load(model) {
    let data;
    try {
      data = await api(`/v1/screens/${screenId}/results/${row}`);
    } catch (error) {
      showError("molecule-error", error.message);
      return;
    }
    const record = data.result || data.record || data;
    const input = record.input || {};
    const name = Object.values(input).filter((v) => v !== null && v !== "").slice(0, 2).join(" · ");
    document.getElementById("molecule-title").textContent = `Row ${record.row}${name ? `: ${name}` : ""}`;
    const depictionBox = document.getElementById("depiction");
    const svg = data.depiction_svg || record.depiction_svg;
    if (svg) depictionBox.replaceChildren(ZF.svgImage(svg, `structure of ${record.canonical_smiles}`));
    else if (record.canonical_smiles) {
      depictionBox.replaceChildren(ZF.depiction(record.canonical_smiles, null, 300, 220));
    }
    const images = attributionImages(data.attributions || record.attributions);
    if (images.length) {
      const figure = document.getElementById("attribution-figure");
      figure.replaceWith(el("div", { class: "molecule-grid", id: "attributions" }, ...images));
    }
    const plot = record.status === "ok" ? ZF.wavelengthPlot(record, model.levels) : null;
    document.getElementById("wavelength-plot").replaceChildren(plot || el("p", { class: "muted" },
      "No wavelength prediction for this molecule."));
    const recordBox = document.getElementById("record");
    recordBox.replaceChildren(ZF.recordList(record));
    if (record.status === "ok") {
      recordBox.append(el("h2", {}, "Level probabilities"),
        ZF.probabilityBars(record, model.levels, model.target_levels));
    }
    const neighbours = data.neighbours || record.neighbours;
    if (neighbours && neighbours.length) {
      document.getElementById("neighbours").replaceChildren(neighbourTable(neighbours));
      document.getElementById("neighbours-section").hidden = false;
    }
  }

  ZF.onReady(load);
})();
