// Progressive enhancement only; every page works without this file.
// Form drafts: a form marked data-draft is saved to sessionStorage on submit, so a session that
// expired mid-edit returns to the same form filled in after logging in again.
(function () {
  "use strict";
  function key(form) { return "tianshu-draft:" + location.pathname + ":" + form.dataset.draft; }
  document.querySelectorAll("form[data-draft]").forEach(function (form) {
    var k = key(form);
    if (form.dataset.saved === "1") { sessionStorage.removeItem(k); }
    var raw = sessionStorage.getItem(k);
    if (raw && !form.querySelector("[aria-invalid=true]")) {
      try {
        var data = JSON.parse(raw);
        Object.keys(data).forEach(function (name) {
          var els = form.querySelectorAll("[name='" + name + "']");
          els.forEach(function (el) {
            if (el.type === "password" || el.type === "hidden") { return; }
            if (el.type === "checkbox") { el.checked = data[name].indexOf(el.value) >= 0; }
            else if (!el.value) { el.value = data[name][0]; }
          });
        });
      } catch (e) { /* a damaged draft is dropped */ }
      sessionStorage.removeItem(k);
    }
    form.addEventListener("submit", function () {
      var data = {};
      new FormData(form).forEach(function (v, n) {
        if (n === "csrf" || n === "password") { return; }
        (data[n] = data[n] || []).push(String(v));
      });
      sessionStorage.setItem(k, JSON.stringify(data));
    });
  });
})();
