// One molecule explained (GET /v1/screens/{id}/results/{row}, POST /v1/predictions/explain):
// structure, atom attributions drawn on it, the predicted emission plot, the record with its
// probability bars, and the nearest measured training molecules. Fields the service leaves
// null (a model without trust files, a row not scored) are left out.
"use strict";

ZF.explanation = (() => {
  const { el } = ZF;

  function figure(caption, content, id) {
    return el("figure", { class: "figure", id: id || null }, el("figcaption", {}, caption), content);
  }

  function attributionCaption(summary, what) {
    if (!summary) return what;
    const levels = summary.levels.join(", ");
    return `${what} (${levels}: ${Number(summary.value).toFixed(3)}; green raises, pink lowers)`;
  }

  function neighbourTable(neighbours) {
    const body = el("tbody");
    for (const n of neighbours) {
      const refs = (n.references || []).slice(0, 2).map((ref) => (/^https:\/\/doi\.org\//.test(ref)
        ? el("a", { href: ref, rel: "noreferrer" }, ref.replace("https://doi.org/", "doi:"))
        : el("span", {}, ref)));
      body.append(el("tr", {},
        el("td", {}, ZF.depiction(n.smiles, `structure of ${n.smiles}`, 140, 100)),
        el("td", { class: "smiles" }, n.smiles),
        el("td", { class: "num" }, Number(n.similarity).toFixed(2)),
        el("td", { class: "num" }, n.emission_nm === null || n.emission_nm === undefined
          ? "" : Number(n.emission_nm).toFixed(0)),
        el("td", {}, n.level || ""),
        el("td", { class: "refs" }, ...refs.flatMap((r, i) => (i ? [el("br"), r] : [r])))));
    }
    return el("table", { class: "table neighbours" },
      el("caption", { class: "visually-hidden" }, "Nearest measured training molecules"),
      el("thead", {}, el("tr", {}, ...["Structure", "SMILES", "Similarity",
        "Measured emission (nm)", "Level", "Reference"].map((name) => el("th", { scope: "col" }, name)))),
      body);
  }

  // the nodes of one explained molecule, in reading order
  return function explanation(data, model, targets) {
    const record = data.result;
    const smiles = record.canonical_smiles;
    const figures = el("div", { class: "molecule-grid" });
    if (data.depiction_svg) {
      figures.append(figure("Structure", ZF.svgImage(data.depiction_svg, `structure of ${smiles}`), "depiction"));
    } else if (smiles) {
      figures.append(figure("Structure", ZF.depiction(smiles, null, 300, 220), "depiction"));
    }
    const attributions = data.attributions || {};
    if (data.attribution_svg) {
      const caption = attributionCaption(attributions.rare_score, "Atom attributions of the rare score");
      figures.append(figure(caption, ZF.svgImage(data.attribution_svg, caption), "attribution"));
    }
    if (data.level_attribution_svg) {
      const caption = attributionCaption(attributions.level, `Atom attributions of the level ${record.level}`);
      figures.append(figure(caption, ZF.svgImage(data.level_attribution_svg, caption), "level-attribution"));
    }
    const plot = record.status === "ok" ? ZF.wavelengthPlot(record, model.levels) : null;
    if (plot) {
      const title = record.emission_nm === null || record.emission_nm === undefined
        ? "Level probabilities along the wavelength axis" : "Predicted emission";
      figures.append(figure(title, plot, "wavelength-plot"));
    }
    const nodes = [figures, ZF.recordList(record)];
    if (record.status === "ok") {
      nodes.push(el("h3", {}, "Level probabilities"), ZF.probabilityBars(record, model.levels, targets));
    }
    if (data.neighbours && data.neighbours.length) {
      nodes.push(el("h3", {}, "Most similar measured molecules"), neighbourTable(data.neighbours));
    } else if (data.neighbours === null && record.status === "ok") {
      nodes.push(el("p", { class: "muted" },
        "No measured neighbours: this model was shipped without trust files."));
    }
    return nodes;
  };
})();
