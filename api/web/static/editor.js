// The JSME editor inside its own frame (/editor). The page that embeds it reads the drawing
// with frame.contentWindow.zincfluorEditor.smiles() and sets one with .set(smiles).
"use strict";

window.zincfluorEditor = { ready: false, applet: null, pending: null,
  smiles() { return this.applet ? this.applet.smiles() : ""; },
  set(smiles) {
    if (this.applet) this.applet.readGenericMolecularInput(smiles);
    else this.pending = smiles;
  },
};

// GWT calls this once JSME's code is loaded
window.jsmeOnLoad = () => {
  const editor = window.zincfluorEditor;
  editor.applet = new window.JSApplet.JSME("jsme", "100%", "100%", { options: "newlook,nosearchinchiKey" });
  if (editor.pending) editor.applet.readGenericMolecularInput(editor.pending);
  editor.ready = true;
  document.body.dataset.ready = "true";
  window.parent.postMessage({ zincfluorEditor: "ready" }, window.location.origin);
};
