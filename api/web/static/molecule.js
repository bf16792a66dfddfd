// One molecule of a screen (GET /v1/screens/{id}/results/{row}), drawn by explain.js.
"use strict";

(() => {
  const { api, showError } = ZF;
  const screenId = document.body.dataset.screenId;
  const row = document.body.dataset.row;

  async function load(model) {
    let screen;
    let data;
    try {
      [screen, data] = await Promise.all([api(`/v1/screens/${screenId}`),
        api(`/v1/screens/${screenId}/results/${row}`)]);
    } catch (error) {
      showError("molecule-error", error.message);
      document.getElementById("molecule-busy").hidden = true;
      return;
    }
    const record = data.result;
    const input = record.input || {};
    const id = screen.id_column ? input[screen.id_column] : null;
    document.getElementById("molecule-title").textContent =
      `Row ${record.row}${id ? `: ${id}` : ""} of ${screen.name || screen.id}`;
    document.getElementById("molecule-busy").hidden = true;
    document.getElementById("explanation").replaceChildren(
      ...ZF.explanation(data, model, screen.target_levels));
  }

  ZF.onReady(load);
})();
