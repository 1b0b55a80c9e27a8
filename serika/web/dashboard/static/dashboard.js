// Serika dashboard: small behaviours shared by every page. No inline scripts (CSP).
(function () {
  "use strict";

  function statusFor(button) {
    var scope = button.closest("section, .panel, article") || document;
    return scope.querySelector("[data-copy-status]");
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  // <button data-copy="#selector">: copies that element's text.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent;
    var copy = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(text)
      : fallbackCopy(text);
    var status = statusFor(button);
    copy.then(function () {
      button.textContent = "Copied";
      if (status) status.textContent = "Copied to the clipboard.";
      window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
    }, function () {
      if (status) status.textContent = "Could not copy: select the text and copy it by hand.";
    });
  });

  // After htmx swaps a key card in, keep keyboard focus on it rather than losing it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.isConnected && target.matches && target.matches("article")) {
      target.setAttribute("tabindex", "-1");
      target.focus({ preventScroll: true });
    }
  });
})();
