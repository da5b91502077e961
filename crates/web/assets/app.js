// Progressive enhancement only; every page works without this file.
// Form drafts: a form marked data-draft is saved to sessionStorage on submit. When the session had
// expired, the server sends the user to log in and then back to the form's page; only then (the page
// was reached from the login page) is the draft put back, with a notice. Any other visit drops it,
// so a form that was submitted successfully never comes back filled in.
(function () {
  "use strict";
  var zh = (document.documentElement.lang || "").indexOf("zh") === 0;
  var fromLogin = /^\/login(\?|$)/.test((document.referrer || "").replace(/^https?:\/\/[^/]+/, ""));
  function key(form) { return "tianshu-draft:" + location.pathname + ":" + form.dataset.draft; }
  document.querySelectorAll("form[data-draft]").forEach(function (form) {
    var k = key(form);
    var raw = sessionStorage.getItem(k);
    sessionStorage.removeItem(k);
    if (raw && fromLogin && !form.querySelector("[aria-invalid=true]")) {
      try {
        var data = JSON.parse(raw);
        Object.keys(data).forEach(function (name) {
          form.querySelectorAll("[name='" + name + "']").forEach(function (el) {
            if (el.type === "password" || el.type === "hidden" || el.type === "file") { return; }
            if (el.type === "checkbox" || el.type === "radio") { el.checked = data[name].indexOf(el.value) >= 0; }
            else { el.value = data[name][0]; }
          });
        });
        var note = document.createElement("p");
        note.className = "notice draft-restored";
        note.setAttribute("role", "status");
        note.textContent = zh ? "登录已过期,您填写的内容已恢复,请核对后重新提交。"
          : "Your session had expired; what you typed has been restored. Check it and submit again.";
        form.insertBefore(note, form.firstChild);
      } catch (e) { /* a damaged draft is dropped */ }
    }
    form.addEventListener("submit", function () {
      var data = {};
      new FormData(form).forEach(function (v, n) {
        if (n === "csrf" || n === "password" || typeof v !== "string") { return; }
        (data[n] = data[n] || []).push(v);
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
