// reeltrace console: register works, submit scans, follow their progress, follow monitors live. No dependencies.
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

  // Buttons that end something for good (a claim released or taken down) ask first.
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (ev) {
      if (!window.confirm(button.dataset.confirm)) ev.preventDefault();
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

  // Start a monitor (monitors page); a server file chosen fills the source.
  var monitorForm = document.getElementById("monitor-form");
  if (monitorForm) {
    var monitorPath = document.getElementById("monitor-path");
    if (monitorPath) monitorPath.addEventListener("change", function () {
      if (monitorPath.value) document.getElementById("monitor-source").value = monitorPath.value;
    });
    monitorForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var status = document.getElementById("monitor-status");
      var name = document.getElementById("monitor-name").value.trim();
      sendJson("POST", "/api/monitors", { source: document.getElementById("monitor-source").value.trim(), name: name || null })
        .then(function (out) { location.href = "/monitors/" + encodeURIComponent(out.id); })
        .catch(function (err) { status.textContent = "Error: " + err.message; });
    });
  }

  // One monitor: on air now, the timeline and the event log, kept up to date from its event
  // stream (server-sent events; the cookie authenticates it, as it does the page).
  var monitor = document.getElementById("monitor");
  if (monitor) {
    var monitorId = monitor.dataset.monitorId, links = monitor.dataset.links === "1";
    var created = Number(monitor.dataset.created), hoursMs = Number(monitor.dataset.hours) * 3600e3;
    var colours = JSON.parse(monitor.dataset.colours);
    var monitorUrl = "/api/monitors/" + encodeURIComponent(monitorId);

    var clock = function (seconds) {  // as the pages write times (report.formats.clock)
      var s = Math.max(seconds, 0), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
      var rest = (s - 60 * Math.floor(s / 60)).toFixed(2).padStart(5, "0");
      return h ? h + ":" + String(m).padStart(2, "0") + ":" + rest : m + ":" + rest;
    };
    var utc = function (ms) { return new Date(ms).toISOString().slice(11, 19); };
    // When a reuse's stretch was on air (service/airtime.py, wall_span).
    var wallSpan = function (e) {
      var decided = Date.parse(e.detected_at);
      return [decided - 1000 * (e.stream_now - e.stream_start), decided - 1000 * (e.stream_now - e.stream_end)];
    };
    var workCell = function (e) {
      return links ? el("a", { href: "/works/" + encodeURIComponent(e.work_id) }, e.title) : document.createTextNode(e.title);
    };

    var showOnAir = function (e) {
      var table = document.getElementById("on-air"), body = table.querySelector("tbody");
      var old = body.querySelector('tr[data-reuse="' + e.reuse + '"]');
      if (e.event === "end") { if (old) body.removeChild(old); }
      else {
        var row = el("tr", { "data-reuse": e.reuse }), work = el("td", { "class": "qname" });
        work.appendChild(el("span", { "class": "onair-dot" }));
        work.appendChild(workCell(e));
        row.appendChild(work);
        row.appendChild(el("td", {}, e.owner || "—"));
        row.appendChild(el("td", {}, clock(e.stream_start) + " – " + clock(e.stream_end)));
        row.appendChild(el("td", {}, clock(e.work_start) + " – " + clock(e.work_end)));
        var shown = el("td");
        shown.appendChild(el("span", { "class": "pill modality" }, e.modality));
        row.appendChild(shown);
        row.appendChild(el("td", {}, e.score.toFixed(3)));
        if (old) body.replaceChild(row, old); else body.appendChild(row);
      }
      var none = !body.children.length;
      table.hidden = none;
      document.getElementById("on-air-empty").hidden = !none;
    };

    var showBar = function (e) {
      var rows = document.getElementById("airtime");
      var row = rows.querySelector('.airrow[data-work-id="' + CSS.escape(e.work_id) + '"]');
      if (!row) {
        var colour = colours[rows.children.length % colours.length];
        row = el("div", { "class": "airrow", "data-work-id": e.work_id, "data-colour": colour });
        var label = el("div", { "class": "airlabel", title: e.title }), swatch = el("i", { "class": "swatch" });
        swatch.style.background = colour;
        label.appendChild(swatch);
        label.appendChild(workCell(e));
        row.appendChild(label);
        row.appendChild(el("div", { "class": "timeline" }));
        rows.appendChild(row);
        document.getElementById("airtime-empty").hidden = true;
      }
      var bar = row.querySelector('.seg[data-reuse="' + e.reuse + '"]');
      if (!bar) {
        bar = el("span", { "class": "seg", "data-reuse": e.reuse });
        bar.style.background = row.dataset.colour;
        row.querySelector(".timeline").appendChild(bar);
      }
      var span = wallSpan(e);
      bar.dataset.start = span[0];
      bar.dataset.end = span[1];
      bar.classList.toggle("on", e.event !== "end");
    };

    // Bars over [the later of the monitor's start and the hours shown, now]: as now moves on.
    var layout = function () {
      var now = Date.now(), from = Math.min(Math.max(created, now - hoursMs), now - 60e3), span = now - from;
      document.querySelectorAll("#airtime .seg").forEach(function (bar) {
        var start = Math.max(Number(bar.dataset.start), from), end = Math.min(Number(bar.dataset.end), now);
        bar.style.left = (100 * (start - from) / span).toFixed(3) + "%";
        bar.style.width = Math.max(100 * (end - start) / span, 0.4).toFixed(3) + "%";
      });
      document.getElementById("axis-from").textContent = utc(from);
      document.getElementById("axis-to").textContent = utc(now);
    };

    var logEvent = function (e) {
      var body = document.querySelector("#event-log tbody"), row = el("tr"), kind = el("td");
      row.appendChild(el("td", { "class": "small" }, (e.detected_at || "").slice(11, 19)));
      kind.appendChild(el("span", { "class": "ev ev-" + e.event }, e.event));
      row.appendChild(kind);
      row.appendChild(el("td", { "class": "small" }, e.work_id
        ? e.title + " · stream " + clock(e.stream_start) + "–" + clock(e.stream_end) + " ← work " + clock(e.work_start) + "–" + clock(e.work_end)
        : e.message));
      body.insertBefore(row, body.firstChild);
      while (body.children.length > 30) body.removeChild(body.lastChild);
    };

    var setState = function (state, error) {
      var badge = document.getElementById("monitor-state");
      badge.textContent = state;
      badge.className = "status st-" + state;
      monitor.dataset.state = state;
      var stop = document.getElementById("monitor-stop");
      if (stop && state !== "running") stop.parentNode.removeChild(stop);
      var box = document.getElementById("monitor-error");
      box.textContent = error || "";
      box.hidden = !error;
    };

    if (monitor.dataset.state === "running") {
      var stream = new EventSource(monitorUrl + "/events/stream?after=" + encodeURIComponent(monitor.dataset.after));
      stream.onmessage = function (message) {
        var e = JSON.parse(message.data);
        logEvent(e);
        if (e.reuse !== undefined && e.reuse !== null) { showOnAir(e); showBar(e); layout(); }
        if (e.event === "start") {
          var found = document.getElementById("reuse-count"), count = Number(found.dataset.count) + 1;
          found.dataset.count = count;
          found.textContent = count + (count === 1 ? " reuse found" : " reuses found");
        }
      };
      stream.addEventListener("state", function (message) {  // the monitor no longer runs: no reconnecting
        var s = JSON.parse(message.data);
        stream.close();
        setState(s.state, s.error);
      });
      var ticking = setInterval(function () {
        if (monitor.dataset.state !== "running") clearInterval(ticking);
        layout();
      }, 5000);
    }

    var stopButton = document.getElementById("monitor-stop");
    if (stopButton) stopButton.addEventListener("click", function () {
      stopButton.disabled = true;
      api("POST", monitorUrl + "/stop").then(function (out) { setState(out.state, out.error); })
        .catch(function (err) { stopButton.disabled = false; window.alert("Could not stop: " + err.message); });
    });
    document.getElementById("monitor-delete").addEventListener("click", function (ev) {
      if (!window.confirm("Delete the monitor “" + ev.target.dataset.name + "” and its events? The reuses it found stay in the works' records.")) return;
      api("DELETE", monitorUrl).then(function () { location.href = "/monitors"; })
        .catch(function (err) { window.alert("Could not delete: " + err.message); });
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
