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
// Live SLA countdowns: any element with data-due (RFC 3339) shows the time left or overdue.
(function () {
  "use strict";
  var zh = (document.documentElement.lang || "").indexOf("zh") === 0;
  function fmt(ms) {
    var s = Math.floor(Math.abs(ms) / 1000), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return (d ? d + (zh ? "天" : "d ") : "") + h + (zh ? "小时" : "h ") + m + (zh ? "分" : "m");
  }
  function tick() {
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var left = Date.parse(el.dataset.due) - Date.now();
      if (isNaN(left)) { return; }
      el.textContent = left >= 0 ? (zh ? "剩余 " : "") + fmt(left) + (zh ? "" : " left") : (zh ? "已超时 " : "overdue ") + fmt(left);
      el.classList.toggle("overdue", left < 0);
    });
  }
  tick();
  setInterval(tick, 30000);
})();
