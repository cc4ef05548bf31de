// reeltrace console: register works, submit scans, follow their progress. No dependencies.
(function () {
  "use strict";

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function api(method, url, body) {
    return fetch(url, { method: method, body: body, credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) throw new Error(data.detail || ("HTTP " + r.status));
          return data;
        });
      });
  }

  function sendJson(method, url, data) {
    return fetch(url, { method: method, body: JSON.stringify(data), credentials: "same-origin",
                        headers: { "Accept": "application/json", "Content-Type": "application/json" } })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (out) {
          if (!r.ok) throw new Error(out.detail || ("HTTP " + r.status));
          return out;
        });
      });
  }

  function percent(job) {
    return Math.round(100 * (job.progress || 0)) + "%";
  }

  function poll(url, onUpdate) {
    return new Promise(function (resolve, reject) {
      function tick() {
        api("GET", url).then(function (job) {
          onUpdate(job);
          if (job.status === "done" || job.status === "failed") resolve(job);
          else setTimeout(tick, 700);
        }).catch(reject);
      }
      tick();
    });
  }

  // Server-side files the admin allows, into <select data-paths>.
  var pathSelects = document.querySelectorAll("select[data-paths]");
  if (pathSelects.length) {
    api("GET", "/api/paths").then(function (data) {
      pathSelects.forEach(function (sel) {
        data.files.forEach(function (f) { sel.appendChild(el("option", { value: f }, f)); });
      });
    }).catch(function () {});
  }

  // Register a work (catalogue page).
  var reg = document.getElementById("register-form");
  if (reg) {
    reg.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var status = document.getElementById("register-status");
      var file = document.getElementById("register-file");
      var path = document.getElementById("register-path");
      var body = new FormData();
      if (file.files.length) body.append("file", file.files[0]);
      else if (path && path.value) body.append("path", path.value);
      else { status.textContent = "Choose a file first."; return; }
      ["title", "category", "account"].forEach(function (name) {
        var input = document.getElementById("register-" + name);
        if (input && input.value) body.append(name, input.value);
      });
      var button = document.getElementById("register-submit");
      button.disabled = true;
      status.textContent = "Uploading…";
      api("POST", "/api/works", body).then(function (data) {
        return poll("/api/jobs/" + data.job.id, function (job) {
          status.textContent = job.status === "running" ? "Analysing the media… " + percent(job) : (job.status === "queued" ? "Waiting in the queue…" : job.status);
        });
      }).then(function (job) {
        if (job.status === "failed") throw new Error(job.error || "registration failed");
        status.textContent = "Registered " + job.result.work.title + ".";
        status.setAttribute("data-done", job.result.work.work_id);
        setTimeout(function () { location.reload(); }, 300);
      }).catch(function (err) {
        status.textContent = "Error: " + err.message;
        button.disabled = false;
      });
    });
  }

  // Submit scans (scans page): one job per file, each with its own progress row.
  var scanForm = document.getElementById("scan-form");
  if (scanForm) {
    scanForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var files = Array.prototype.slice.call(document.getElementById("scan-files").files);
      var sel = document.getElementById("scan-paths");
      var paths = sel ? Array.prototype.slice.call(sel.selectedOptions).map(function (o) { return o.value; }) : [];
      var list = document.getElementById("scan-progress");
      var inputs = files.map(function (f) { return { file: f, name: f.name }; })
        .concat(paths.map(function (p) { return { path: p, name: p }; }));
      if (!inputs.length) { list.textContent = "Choose at least one video."; return; }
      document.getElementById("scan-submit").disabled = true;
      var jobs = inputs.map(function (input) {
        var row = el("div", { "class": "prow" });
        var name = el("span", { "class": "qname" }, input.name);
        var state = el("span", { "class": "status st-queued" }, "uploading");
        var bar = el("div", { "class": "bar" });
        var fill = el("span");
        fill.style.width = "5%";
        bar.appendChild(fill);
        row.appendChild(name); row.appendChild(state); row.appendChild(bar);
        list.appendChild(row);
        var body = new FormData();
        if (input.file) body.append("file", input.file); else body.append("path", input.path);
        var foundAt = document.getElementById("scan-found-at").value.trim();
        var claimant = document.getElementById("scan-claimant").value.trim();
        if (foundAt && inputs.length === 1) body.append("found_at", foundAt);
        if (claimant) body.append("claimant", claimant);
        return api("POST", "/api/scans", body).then(function (data) {
          row.setAttribute("data-scan-id", data.scan.id);
          return poll("/api/scans/" + data.scan.id, function (scan) {
            state.textContent = scan.status;
            state.className = "status st-" + scan.status;
            if (scan.status === "queued") { bar.className = "bar"; fill.style.width = "15%"; }
            else if (scan.status === "running") {
              state.textContent = "running " + percent(scan);
              bar.className = "bar"; fill.style.width = Math.max(5, 100 * (scan.progress || 0)) + "%";
            }
            else { bar.className = "bar"; fill.style.width = "100%"; }
          });
        }).catch(function (err) {
          state.textContent = "error"; state.className = "status st-failed";
          row.appendChild(el("div", { "class": "alert error small" }, err.message));
        });
      });
      Promise.all(jobs).then(function () { setTimeout(function () { location.reload(); }, 400); });
    });
  }

  // A scan page still in progress: its percentage, and a refresh when it is done.
  var scanStatus = document.getElementById("scan-status");
  if (scanStatus && (scanStatus.dataset.status === "queued" || scanStatus.dataset.status === "running")) {
    var scanFill = document.querySelector("#scan-bar span");
    poll("/api/scans/" + scanStatus.dataset.scanId, function (scan) {
      scanStatus.textContent = scan.status === "running" ? "running " + percent(scan) : scan.status;
      scanStatus.className = "status st-" + scan.status;
      if (scanFill && scan.status === "running") {
        scanFill.parentNode.className = "bar";
        scanFill.style.width = Math.max(5, 100 * (scan.progress || 0)) + "%";
      }
    }).then(function () { location.reload(); });
  }

  // Delete a work (catalogue cards, work page), after a confirmation.
  document.querySelectorAll("[data-delete-work]").forEach(function (button) {
    button.addEventListener("click", function () {
      var title = button.dataset.title || button.dataset.deleteWork;
      if (!window.confirm("Delete “" + title + "”? Its fingerprints and where it was found are removed; this cannot be undone.")) return;
      button.disabled = true;
      api("DELETE", "/api/works/" + encodeURIComponent(button.dataset.deleteWork)).then(function () {
        if (button.dataset.then) location.href = button.dataset.then; else location.reload();
      }).catch(function (err) { button.disabled = false; window.alert("Could not delete: " + err.message); });
    });
  });

  // Edit a work (work page); #edit opens the form.
  var editForm = document.getElementById("edit-form");
  if (editForm) {
    if (location.hash === "#edit") document.getElementById("edit").open = true;
    editForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var status = document.getElementById("edit-status");
      var changes = { title: document.getElementById("edit-title").value, category: document.getElementById("edit-category").value };
      var account = document.getElementById("edit-account");
      if (account) changes.account = account.value;
      sendJson("PATCH", "/api/works/" + encodeURIComponent(editForm.dataset.workId), changes).then(function () {
        status.textContent = "Saved.";
        location.hash = "";
        location.reload();
      }).catch(function (err) { status.textContent = "Error: " + err.message; });
    });
  }

  // Accounts (admin): create, new token, revoke.
  function showToken(label, token) {
    var box = document.getElementById("token-shown");
    document.getElementById("token-label").textContent = label;
    document.getElementById("token-value").textContent = token;
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  }
  var accountForm = document.getElementById("account-form");
  if (accountForm) {
    accountForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var status = document.getElementById("account-status");
      var data = { name: document.getElementById("account-name").value.trim(), role: document.getElementById("account-role").value,
                   owner_name: document.getElementById("account-owner").value.trim() };
      sendJson("POST", "/api/accounts", data).then(function (out) {
        status.textContent = "Created " + out.account.name + ".";
        showToken("Token of the new account " + out.account.name + ":", out.token);
        var a = out.account, owner = a.role === "owner";
        var row = el("tr", { "data-account": a.name });
        var name = el("td"), role = el("td");
        name.appendChild(el("b", {}, a.name));
        role.appendChild(el("span", { "class": "role role-" + a.role }, a.role));
        row.appendChild(name); row.appendChild(role);
        [owner ? a.owner_name : "—", owner ? "0" : "—", "just now"].forEach(function (text) { row.appendChild(el("td", {}, text)); });
        var actions = el("td", { "class": "actions" });
        actions.appendChild(el("button", { "class": "small", type: "button", "data-rotate": out.account.name }, "New token"));
        actions.appendChild(el("button", { "class": "small danger", type: "button", "data-revoke": out.account.name }, "Revoke"));
        row.appendChild(actions);
        document.querySelector("#account-list tbody").appendChild(row);
        accountForm.reset();
      }).catch(function (err) { status.textContent = "Error: " + err.message; });
    });
    document.getElementById("account-list").addEventListener("click", function (ev) {
      var button = ev.target.closest("button");
      if (!button) return;
      var rotate = button.getAttribute("data-rotate"), revoke = button.getAttribute("data-revoke");
      if (rotate && window.confirm("Give " + rotate + " a new token? The current one stops working at once.")) {
        api("POST", "/api/accounts/" + encodeURIComponent(rotate) + "/token").then(function (out) {
          showToken("New token of " + rotate + ":", out.token);
        }).catch(function (err) { window.alert("Could not make a token: " + err.message); });
      }
      if (revoke && window.confirm("Revoke " + revoke + "? Its token stops working; its works stay in the catalogue.")) {
        api("DELETE", "/api/accounts/" + encodeURIComponent(revoke)).then(function () {
          var row = button.closest("tr");
          row.parentNode.removeChild(row);
        }).catch(function (err) { window.alert("Could not revoke: " + err.message); });
      }
    });
  }

  // Scans list: refresh while some scan is unfinished.
  var pending = document.querySelectorAll('.scanrow[data-status="queued"], .scanrow[data-status="running"]');
  if (pending.length) {
    Promise.all(Array.prototype.map.call(pending, function (row) {
      var rowState = row.querySelector(".status"), rowFill = row.querySelector(".bar span");
      return poll("/api/scans/" + row.dataset.scanId, function (scan) {
        if (scan.status !== "running") return;
        rowState.textContent = "running " + percent(scan);
        if (rowFill) { rowFill.parentNode.className = "bar"; rowFill.style.width = Math.max(5, 100 * (scan.progress || 0)) + "%"; }
      });
    })).then(function () { location.reload(); });
  }
})();
