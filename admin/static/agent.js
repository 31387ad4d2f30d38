// Agent console: the waiting-caller table is pushed by the server (Server-Sent Events, /agent/events); if the
// browser has no EventSource or the stream keeps failing, it falls back to polling queue.json every 2 s.
// Rows are built with textContent only, so transcripts can never inject markup.
(function () {
  "use strict";
  var table = document.getElementById("waiting");
  var status = document.getElementById("queue-status");
  if (!table) { return; }
  var body = table.querySelector("tbody");

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  function stateLabel(c) {
    if (c.mine) { return "正在呼叫您"; }
    return c.state === "ringing" ? "振铃中" : "排队中";
  }

  function render(callers) {
    var rows = document.createDocumentFragment();
    callers.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.className = c.mine ? "mine" : c.state;
      tr.setAttribute("data-call", String(c.call_id));
      cell(tr, stateLabel(c));
      cell(tr, c.waiting_s + " 秒");
      cell(tr, c.number, "number");
      cell(tr, c.question, "question");
      cell(tr, (c.item_code + " " + c.item_name).trim() + (c.department ? "（" + c.department + "）" : ""), "item");
      var reason = cell(tr, c.reason, "reason");
      if (c.summary) {
        var summary = document.createElement("div");
        summary.className = "summary";
        summary.textContent = c.summary;
        reason.appendChild(summary);
      }
      cell(tr, c.transcript.join(" / "), "transcript");
      rows.appendChild(tr);
    });
    if (!callers.length) {
      var empty = document.createElement("tr");
      empty.className = "empty";
      var td = document.createElement("td");
      td.colSpan = 7;
      td.textContent = "暂无等待的来电。";
      empty.appendChild(td);
      rows.appendChild(empty);
    }
    body.replaceChildren(rows);
  }

  function live(mode) { status.textContent = "实时"; status.className = "live"; status.setAttribute("data-mode", mode); }

  function poll() {
    fetch(table.getAttribute("data-src"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.json();
      })
      .then(function (data) { render(data.callers); live("poll"); })
      .catch(function () { status.textContent = "连接中断，正在重试"; status.className = "live stale"; })
      .finally(function () { window.setTimeout(poll, 2000); });
  }

  function push() {
    var failures = 0;
    var source = new EventSource(table.getAttribute("data-events"));
    source.onmessage = function (e) {
      failures = 0;
      render(JSON.parse(e.data).callers);
      live("push");
    };
    source.onerror = function () {
      // EventSource reconnects by itself (the server ends each stream after a few minutes); give up after 3.
      failures += 1;
      status.textContent = "连接中断，正在重试";
      status.className = "live stale";
      if (failures >= 3) { source.close(); window.setTimeout(poll, 2000); }
    };
  }

  if (window.EventSource && table.getAttribute("data-events")) { push(); } else { window.setTimeout(poll, 2000); }
}());
