// The public web caller page: one button calls 86909000 over WebRTC (JsSIP, guest endpoint) and the call's
// transcript, as the IVR heard it, is pushed by the server (Server-Sent Events). Texts use textContent only.
(function () {
  "use strict";
  var box = document.getElementById("webcall");
  var button = document.getElementById("call-button");
  if (!box || !button || !window.JsSIP) { return; }
  function $(id) { return document.getElementById(id); }
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var statusEl = $("call-status"), errorEl = $("call-error"), list = $("call-transcript"), audio = $("call-audio");
  var ua = null, session = null, events = null, info = null, connected = false;

  function setStatus(text, state) { statusEl.textContent = text; box.setAttribute("data-state", state); }
  function showError(text, link) {
    errorEl.replaceChildren(document.createTextNode(text));
    if (link) {
      var a = document.createElement("a");
      a.href = link; a.target = "_blank"; a.rel = "noopener"; a.textContent = link;
      errorEl.appendChild(a);
      errorEl.appendChild(document.createTextNode("，接受证书后再拨打。"));
    }
    errorEl.hidden = !text;
  }

  function renderTranscript(data) {
    var rows = document.createDocumentFragment();
    data.turns.forEach(function (t) {
      var li = document.createElement("li");
      li.className = t.speaker;
      li.textContent = (t.speaker === "caller" ? "您：" : "热线：") + t.text;
      rows.appendChild(li);
    });
    if (data.turns.length) { list.replaceChildren(rows); }
  }

  function finish(text) {
    var old = ua;
    ua = null; session = null; connected = false;
    if (old) { old.stop(); }
    audio.srcObject = null;
    button.textContent = "拨打 86909000";
    button.disabled = false;
    $("dtmf-0").hidden = true;
    setStatus(text, "ended");
    // The transcript stream stays open a little so the last turns arrive.
    window.setTimeout(function () { if (events && !session) { events.close(); events = null; } }, 5000);
  }

  function failed(ev) {
    var c = JsSIP.C.causes;
    if (ev.cause === c.USER_DENIED_MEDIA_ACCESS) {
      showError("无法使用麦克风：请在浏览器地址栏允许本页使用麦克风，然后再拨打。");
    } else if (ev.cause === c.CONNECTION_ERROR || ev.cause === c.REQUEST_TIMEOUT) {
      problem();
    } else if (ev.cause === c.BUSY) {
      showError("网页通话线路已满，请稍后再试，或直接拨打电话 86909000。");
    } else {
      showError("呼叫未接通（" + ev.cause + "），请稍后再试。");
    }
    finish("未接通");
  }

  function problem() {
    if (info && !info.asterisk_reachable) {
      showError("热线语音服务器暂时无法连接，请稍后再试，或直接拨打电话 86909000。");
    } else {
      showError("无法与热线语音服务器建立安全连接：浏览器不信任它的证书。请打开 ", info && info.certificate_url);
    }
  }

  function call() {
    var host = info.phone.uri.split("@")[1];
    session = ua.call("sip:86909000@" + host, {
      mediaConstraints: {audio: true, video: false},
      pcConfig: {iceServers: []},
      extraHeaders: ["X-Webcall-Token: " + info.token],
      eventHandlers: {
        progress: function () { setStatus("正在接通", "ringing"); },
        confirmed: function () {
          setStatus("通话中", "incall");
          $("dtmf-0").hidden = false;
          var pc = session.connection, stream = new MediaStream();
          pc.getReceivers().forEach(function (r) { if (r.track) { stream.addTrack(r.track); } });
          audio.srcObject = stream;
        },
        ended: function () { finish("通话已结束"); },
        failed: failed
      }
    });
    session.on("peerconnection", function (d) {
      d.peerconnection.addEventListener("track", function (ev) { audio.srcObject = ev.streams[0]; });
    });
    events = new EventSource(box.getAttribute("data-transcript"));
    events.onmessage = function (e) { renderTranscript(JSON.parse(e.data)); };
  }

  function start() {
    showError("");
    button.disabled = true;
    setStatus("正在连接", "connecting");
    fetch(box.getAttribute("data-start"), {method: "POST", credentials: "same-origin",
                                           headers: {"Accept": "application/json", "X-CSRFToken": csrf}})
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (d) {
          if (!r.ok) { throw new Error(d.error || ("HTTP " + r.status)); }
          return d;
        });
      })
      .then(function (d) {
        info = d;
        ua = new JsSIP.UA({sockets: [new JsSIP.WebSocketInterface(d.phone.ws_url)], uri: d.phone.uri,
                           password: d.phone.password, register: false, session_timers: false,
                           user_agent: "hotline-webcall"});
        var mine = ua;
        mine.on("connected", function () { if (!connected && ua === mine) { connected = true; call(); } });
        mine.on("disconnected", function () {
          // Never connected: Asterisk down or its certificate not trusted (the browser does not say which).
          if (!connected && ua === mine) { problem(); finish("未接通"); }
        });
        button.textContent = "挂断";
        button.disabled = false;
        mine.start();
      })
      .catch(function (e) { showError(e.message || "网页呼叫失败，请稍后再试。"); finish("未接通"); });
  }

  button.addEventListener("click", function () {
    if (session) { session.terminate(); } else if (!ua) { start(); }
  });
  $("dtmf-0").addEventListener("click", function () {
    if (session) { session.sendDTMF("0", {transportType: JsSIP.C.DTMF_TRANSPORT.RFC2833}); }
  });
  window.hotlinePhone = {stop: function () { if (session) { session.terminate(); } else if (ua) { finish("未通话"); } }};
  window.addEventListener("pagehide", window.hotlinePhone.stop);
  if (!navigator.mediaDevices || !window.RTCPeerConnection) {
    button.disabled = true;
    showError("此浏览器不支持网页通话，请使用新版 Chrome、Edge 或 Firefox，或直接拨打电话 86909000。");
  }
}());
