// Labelling view: keyboard first, so a person can label ~200 utterances an hour.
// Enter saves (and the next utterance opens and plays), F2 replays, F4 toggles "out of scope", F8 skips,
// F9 puts the recognised text back. Function keys do nothing in a text field, so typing is never disturbed.
(function () {
  "use strict";
  var form = document.getElementById("label-form");
  if (!form) { return; }
  var audio = document.getElementById("utterance");
  var transcript = document.getElementById("transcript");
  var item = document.getElementById("item-code");
  var outOfScope = document.getElementById("out-of-scope");
  var heard = document.getElementById("heard-text");

  function play(fromStart) {
    if (!audio) { return; }
    if (fromStart) { audio.currentTime = 0; }
    var p = audio.play();
    if (p && p.catch) { p.catch(function () { /* autoplay refused until the first key press */ }); }
  }
  function syncScope() { item.disabled = outOfScope.checked; }

  outOfScope.addEventListener("change", syncScope);
  syncScope();
  transcript.focus();
  transcript.select();
  play(false);

  document.addEventListener("keydown", function (e) {
    if (e.key === "F2") { e.preventDefault(); play(true); }
    else if (e.key === "F4") { e.preventDefault(); outOfScope.checked = !outOfScope.checked; syncScope(); }
    else if (e.key === "F8") { e.preventDefault(); window.location.href = form.getAttribute("data-skip-url"); }
    else if (e.key === "F9") { e.preventDefault(); transcript.value = heard.textContent; transcript.focus(); }
    else if (e.key === "Enter" && e.target.tagName === "SELECT") { e.preventDefault(); form.requestSubmit(); }
  });
})();
