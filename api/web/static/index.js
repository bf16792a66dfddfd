// The start page: predict a pasted or drawn molecule (in a solvent, when the served model has a
// solvent-aware model), upload a library, list this key's screens.
"use strict";

(() => {
  const { api, el, showError } = ZF;

  const recordNm = (r) => r.emission_nm !== null && r.emission_nm !== undefined;
  const SOLVENTS_LISTED = 6;  // training solvents the field's help names
  // a 422 about the request's solvent field ("solvent: unknown solvent ..."): shown beside it
  const SOLVENT_ERROR = /^solvent\b/;

  // the solvent field: shown when GET /v1/models has a solvent section on the model's card
  function setUpSolvent(model) {
    const section = model.card ? model.card.solvent : null;
    const field = document.getElementById("solvent-field");
    field.hidden = !section;
    if (!section) {
      document.getElementById("solvent").value = "";
      return;
    }
    const trained = (section.train_solvents || []).map((entry) =>
      `${entry.name || ZF.solventName(entry.smiles) || entry.smiles} (${entry.rows} rows)`);
    const more = trained.length > SOLVENTS_LISTED ? `, and ${trained.length - SOLVENTS_LISTED} more` : "";
    document.getElementById("solvent-trained").textContent = trained.length
      ? `Trained in ${trained.slice(0, SOLVENTS_LISTED).join(", ")}${more}; other solvents are flagged.`
      : "";
  }

  // the solvent the request sends: the field's text, when the field is shown and not blank
  function chosenSolvent() {
    if (document.getElementById("solvent-field").hidden) return null;
    return document.getElementById("solvent").value.trim() || null;
  }

  function renderPrediction(result, model, targets) {
    const box = document.getElementById("prediction");
    box.replaceChildren();
    const smiles = result.canonical_smiles || result.input.smiles;
    const head = el("div", { class: "prediction-head" },
      result.canonical_smiles ? ZF.depiction(result.canonical_smiles, null, 240, 180) : null,
      ZF.recordList(result));
    const solvent = result.solvent ? ` in ${ZF.solventName(result.solvent) || result.solvent}` : "";
    box.append(el("h2", {}, `Prediction for ${smiles}${solvent}`), head);
    if (result.status === "ok") {
      box.append(el("h3", {}, "Level probabilities"), ZF.probabilityBars(result, model.levels, targets));
      const plot = ZF.wavelengthPlot(result, model.levels);
      if (plot) box.append(el("h3", {}, recordNm(result) ? "Predicted emission" : "Level probabilities along the wavelength axis"), plot);
      const button = el("button", { type: "button", id: "explain", "aria-describedby": "explain-error" },
        "Explain: atom attributions and measured neighbours");
      button.addEventListener("click", () => explain(smiles, targets));
      box.append(el("p", {}, button), el("p", { id: "explain-error", class: "error", role: "alert", hidden: true }));
      if (result.solvent) {
        box.append(el("p", { class: "help" }, "Explanations are of the solvent-free model."));
      }
    }
  }

  async function explain(smiles, targets) {
    showError("explain-error", "");
    const button = document.getElementById("explain");
    button.disabled = true;
    button.textContent = "Explaining…";
    try {
      const data = await api("/v1/predictions/explain", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ smiles }),
      });
      const box = document.getElementById("prediction");
      box.replaceChildren(el("h2", {}, `Prediction for ${smiles}, explained`),
        ...ZF.explanation(data, ZF.model(), targets));
    } catch (error) {
      button.disabled = false;
      button.textContent = "Explain: atom attributions and measured neighbours";
      showError("explain-error", error.status === 404 || error.status === 405
        ? "This service offers no explanations (POST /v1/predictions/explain)." : error.message);
    }
  }

  async function predict(smiles) {
    showError("smiles-error", "");
    showError("solvent-error", "");
    if (!smiles) {
      showError("smiles-error", "Enter a SMILES, or draw a molecule.");
      document.getElementById("smiles").focus();
      return;
    }
    const box = document.getElementById("prediction");
    box.replaceChildren(el("p", { class: "muted" }, "Predicting…"));
    const request = { smiles: [smiles] };
    const solvent = chosenSolvent();
    if (solvent) request.solvent = solvent;
    try {
      const data = await api("/v1/predictions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request),
      });
      const result = data.results[0];
      if (result.status !== "ok") {
        showError("smiles-error", `${result.status === "invalid" ? "Not a molecule" : "Out of scope"}: ${result.reason}`);
      }
      renderPrediction(result, ZF.model(), data.target_levels);
    } catch (error) {
      box.replaceChildren();
      if (error.status === 422 && SOLVENT_ERROR.test(error.message)) {
        showError("solvent-error", error.message);
        document.getElementById("solvent").focus();
      } else {
        showError("smiles-error", error.message);
      }
    }
  }

  // JSME runs in its own frame (/editor: its GWT loader needs inline scripts, which this
  // page's policy forbids); the frame says when it is ready
  const editorApi = () => {
    const frame = document.getElementById("editor-frame");
    return frame && frame.contentWindow ? frame.contentWindow.zincfluorEditor : null;
  };

  function openEditor() {
    const panel = document.getElementById("editor-panel");
    const button = document.getElementById("toggle-editor");
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
    if (panel.hidden || document.getElementById("editor-frame")) return;
    const frame = el("iframe", { id: "editor-frame", src: "/editor", title: "Molecule editor (JSME)",
      class: "editor-frame", width: 440, height: 360 });
    frame.addEventListener("load", () => {
      const smiles = document.getElementById("smiles").value.trim();
      if (smiles && editorApi()) editorApi().set(smiles);
    });
    document.getElementById("editor-slot").replaceChildren(frame);
  }

  function useDrawing() {
    showError("editor-error", "");
    const api_ = editorApi();
    if (!api_ || !api_.ready) {
      showError("editor-error", "The molecule editor is still loading (or could not load); paste a SMILES instead.");
      return;
    }
    const smiles = api_.smiles();
    if (!smiles) {
      showError("editor-error", "The drawing is empty: draw a molecule first.");
      return;
    }
    document.getElementById("smiles").value = smiles;
    predict(smiles);
  }

  async function upload(event) {
    event.preventDefault();
    showError("upload-error", "");
    const input = document.getElementById("library");
    if (!input.files.length) {
      showError("upload-error", "Choose a file first.");
      input.focus();
      return;
    }
    const form = new FormData();
    form.append("file", input.files[0]);
    for (const name of ["smiles_column", "id_column", "target_levels", "name"]) {
      const value = document.querySelector(`#upload-form [name="${name}"]`).value.trim();
      if (value) form.append(name, value);
    }
    try {
      const created = await api("/v1/screens", { method: "POST", body: form });
      window.location.assign(`/screens/${created.id}`);
    } catch (error) {
      showError("upload-error", `${input.files[0].name}: ${error.message}`);
    }
  }

  async function listScreens() {
    const body = document.querySelector("#screens tbody");
    try {
      const data = await api("/v1/screens");
      body.replaceChildren(...data.screens.map((screen) => el("tr", {},
        el("td", {}, el("a", { href: `/screens/${screen.id}` }, screen.name || screen.id)),
        el("td", {}, screen.status),
        el("td", {}, el("progress", { max: 1, value: screen.progress, "aria-label": "progress" }),
          ` ${Math.round(screen.progress * 100)} %`),
        el("td", { class: "num" }, screen.counts.total),
        el("td", {}, new Date(screen.created_at).toLocaleString()))));
      if (data.screens.some((screen) => screen.status === "queued" || screen.status === "running")) {
        setTimeout(listScreens, 2000);  // follow their progress
      }
      if (!data.screens.length) {
        body.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No screens yet.")));
      }
    } catch (error) {
      showError("screens-error", error.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("predict-form").addEventListener("submit", (event) => {
      event.preventDefault();
      predict(document.getElementById("smiles").value.trim());
    });
    document.getElementById("toggle-editor").addEventListener("click", openEditor);
    document.getElementById("use-drawing").addEventListener("click", useDrawing);
    document.getElementById("upload-form").addEventListener("submit", upload);
  });
  ZF.onReady(setUpSolvent);
  ZF.onReady(listScreens);
})();
