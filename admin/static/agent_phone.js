// The agent's softphone in the console: JsSIP over wss to Asterisk (DTLS-SRTP media), screen-pop of the waiting
// caller's context when the queue rings this browser, answer / mute / hang up / back to the IVR / callback task,
// and queue state (log in, pause, resume, log out) through the panel (AMI QueueAdd/QueuePause/QueueRemove).
// Texts are set with textContent only: caller transcripts can never inject markup.
(function () {
  "use strict";
  var box = document.getElementById("softphone");
  if (!box || !window.JsSIP) { return; }
  function $(id) { return document.getElementById(id); }
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var statusEl = $("phone-status"), errorEl = $("phone-error"), noteEl = $("phone-note"), pop = $("screen-pop");
  var audio = $("remote-audio");
  var ua = null, config = null, current = null, currentUuid = "", muted = false, waitTimer = null;

  function setStatus(text, state) {
    statusEl.textContent = text;
    statusEl.className = "live " + state;
    box.setAttribute("data-phone", state);
  }
  function showError(text, link) {
    errorEl.replaceChildren(document.createTextNode(text));
    if (link) {
      var a = document.createElement("a");
      a.href = link; a.target = "_blank"; a.rel = "noopener"; a.textContent = link;
      errorEl.appendChild(a);
      errorEl.appendChild(document.createTextNode("，接受证书后刷新本页。"));
    }
    errorEl.hidden = !text;
  }
  function note(text) { noteEl.textContent = text; noteEl.hidden = !text; }

  function api(url, method, body) {
    return fetch(url, {
      method: method || "GET", credentials: "same-origin",
      headers: {"Accept": "application/json", "Content-Type": "application/json", "X-CSRFToken": csrf},
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { throw new Error(data.error || ("HTTP " + r.status)); }
        return data;
      });
    });
  }

  // ---- why the WebSocket failed: ask the panel whether Asterisk's port answers at all -------------------------
  function connectionProblem() {
    api(box.getAttribute("data-config")).then(function (fresh) {
      if (!fresh.asterisk_reachable) {
        showError("无法连接语音服务器（Asterisk 未启动或网络不通），请联系管理员。");
      } else {
        showError("无法与语音服务器建立安全连接：浏览器不信任它的证书。请打开 ", fresh.certificate_url);
      }
    }).catch(function (e) { showError("无法连接语音服务器：" + e.message); });
  }

  // ---- queue state ------------------------------------------------------------------------------------------
  box.querySelectorAll("button[data-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      var action = button.getAttribute("data-action");
      api(box.getAttribute("data-state"), "POST", {action: action}).then(function (data) {
        $("agent-state").textContent = data.message;
        box.setAttribute("data-agent-state", data.state);
        showError("");
      }).catch(function (e) { showError(e.message); });
    });
  });

  // ---- screen-pop -------------------------------------------------------------------------------------------
  function fillPop(data) {
    $("pop-number").textContent = data.number || "未知号码";
    $("pop-question").textContent = data.question || "（未提问）";
    $("pop-item").textContent = ((data.item_code || "") + " " + (data.item_name || "")).trim() +
      (data.department ? "（" + data.department + "）" : "");
    $("pop-reason").textContent = data.reason + (data.summary ? "：" + data.summary : "");
    var list = document.createDocumentFragment();
    (data.transcript || []).forEach(function (t) {
      var li = document.createElement("li");
      li.className = t.speaker;
      li.textContent = (t.speaker === "caller" ? "来电人：" : "语音导航：") + t.text;
      list.appendChild(li);
    });
    $("pop-transcript").replaceChildren(list);
    var waited = data.waiting_s || 0;
    window.clearInterval(waitTimer);
    $("pop-wait").textContent = waited + " 秒";
    waitTimer = window.setInterval(function () { waited += 1; $("pop-wait").textContent = waited + " 秒"; }, 1000);
  }

  function openPop(request) {
    currentUuid = request.getHeader("X-Hotline-Call") || "";
    $("pop-title").textContent = "来电振铃";
    fillPop({number: request.from.display_name || "", question: "", reason: "",
             summary: request.getHeader("X-Hotline-Context") || "", transcript: []});
    pop.hidden = false;
    buttons(true, false);
    if (currentUuid) {
      api(box.getAttribute("data-pop").replace("CALL", encodeURIComponent(currentUuid)))
        .then(fillPop).catch(function () { /* the SIP headers above stay shown */ });
    }
  }

  function buttons(ringing, talking) {
    $("btn-answer").disabled = !ringing;
    $("btn-hangup").disabled = !(ringing || talking);
    ["btn-mute", "btn-ivr", "btn-callback"].forEach(function (id) { $(id).disabled = !talking; });
  }

  function endCall(text) {
    window.clearInterval(waitTimer);
    current = null;
    muted = false;
    $("btn-mute").textContent = "静音";
    audio.srcObject = null;
    $("pop-title").textContent = text;
    buttons(false, false);
    setStatus("已注册，等待来电", "registered");
  }

  function attachAudio(session) {
    var pc = session.connection;
    if (!pc) { return; }
    var stream = new MediaStream();
    pc.getReceivers().forEach(function (r) { if (r.track) { stream.addTrack(r.track); } });
    audio.srcObject = stream;
    pc.addEventListener("track", function (ev) { audio.srcObject = ev.streams[0] || stream; });
  }

  function incoming(e) {
    var session = e.session;
    if (current) {
      // ringinuse=no keeps the queue from doing this; a direct call could still try.
      session.terminate({status_code: 486, reason_phrase: "Busy Here"});
      note("您正在通话中，新的来电已拒绝，会由其他坐席接听。");
      return;
    }
    current = session;
    box.setAttribute("data-ringing-at", String(Date.now()));
    setStatus("来电振铃", "ringing");
    note("");
    openPop(e.request);
    session.on("peerconnection", function (d) {
      d.peerconnection.addEventListener("track", function (ev) { audio.srcObject = ev.streams[0]; });
    });
    session.on("confirmed", function () {
      attachAudio(session);
      setStatus("通话中", "incall");
      $("pop-title").textContent = "通话中";
      buttons(false, true);
    });
    session.on("ended", function () { endCall("通话已结束"); });
    session.on("failed", function (ev) {
      if (ev.cause === JsSIP.C.causes.USER_DENIED_MEDIA_ACCESS) {
        showError("无法使用麦克风：请在浏览器地址栏允许本页使用麦克风，然后再接听。");
      }
      endCall(ev.cause === JsSIP.C.causes.CANCELED ? "来电人已挂断或已转给其他坐席" : "未接通（" + ev.cause + "）");
    });
  }

  $("btn-answer").addEventListener("click", function () {
    if (!current) { return; }
    current.answer({mediaConstraints: {audio: true, video: false}, pcConfig: {iceServers: []}});
  });
  $("btn-hangup").addEventListener("click", function () { if (current) { current.terminate(); } });
  $("btn-mute").addEventListener("click", function () {
    if (!current) { return; }
    muted = !muted;
    if (muted) { current.mute({audio: true}); } else { current.unmute({audio: true}); }
    $("btn-mute").textContent = muted ? "取消静音" : "静音";
    box.setAttribute("data-muted", muted ? "1" : "0");
  });
  $("btn-ivr").addEventListener("click", function () {
    if (!current) { return; }
    // A blind transfer to [from-agents] hotline-ivr: the caller talks with the IVR again, same call id.
    current.refer("sip:hotline-ivr@" + config.uri.split("@")[1], {
      eventHandlers: {
        accepted: function () {
          note("已转回语音导航。");
          if (current && !current.isEnded()) { current.terminate(); }  // Asterisk usually hangs up first
        },
        failed: function () { showError("转回语音导航失败，请重试或直接处理来电。"); }
      }
    });
  });
  $("btn-callback").addEventListener("click", function () {
    if (!currentUuid) { showError("这通电话没有通话编号，无法登记回电。"); return; }
    api(box.getAttribute("data-callback").replace("CALL", encodeURIComponent(currentUuid)), "POST", {note: ""})
      .then(function (d) { note(d.message); }).catch(function (e) { showError(e.message); });
  });

  // ---- register -----------------------------------------------------------------------------------------------
  function start(data) {
    config = data.phone;
    var socket = new JsSIP.WebSocketInterface(config.ws_url);
    ua = new JsSIP.UA({sockets: [socket], uri: config.uri, password: config.password, register: true,
                       session_timers: false, user_agent: "hotline-agent-console"});
    var everConnected = false;
    ua.on("connected", function () { everConnected = true; showError(""); setStatus("已连接", "connected"); });
    ua.on("disconnected", function () {
      setStatus("未连接", "error");
      if (!everConnected || !current) { connectionProblem(); }
    });
    ua.on("registered", function () { setStatus("已注册，等待来电", "registered"); });
    ua.on("registrationFailed", function (ev) {
      setStatus("注册失败", "error");
      showError("话机注册失败（" + ev.cause + "），请联系管理员检查坐席账号。");
    });
    ua.on("newRTCSession", function (e) { if (e.originator === "remote") { incoming(e); } });
    ua.start();
  }

  if (!navigator.mediaDevices || !window.RTCPeerConnection) {
    setStatus("不可用", "error");
    showError("此浏览器不支持网页通话，请使用新版 Chrome、Edge 或 Firefox，并通过 https 打开本页。");
    return;
  }
  api(box.getAttribute("data-config")).then(start).catch(function (e) {
    setStatus("不可用", "error");
    showError(e.message);
  });
  // Sign off cleanly (un-REGISTER, WebSocket close) when the console is closed or the agent logs out of the panel.
  // True when a phone was running: it is "stopped" (data-phone) once Asterisk has the un-REGISTER.
  function stop() {
    if (!ua) { return false; }
    if (current) { current.terminate(); }
    ua.on("disconnected", function () { box.setAttribute("data-phone", "stopped"); });
    ua.stop();
    ua = null;
    return true;
  }
  window.hotlinePhone = {stop: stop};
  window.addEventListener("pagehide", stop);
}());
