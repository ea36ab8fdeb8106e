// The recording player's waveform (recordings/templates/recordings/player.html).
// The <audio> element plays on its own; the waveform only helps to see and seek.
(function () {
  var audio = document.getElementById("recording-audio");
  var container = document.getElementById("waveform");
  if (!window.WaveSurfer || !audio || !container) { return; }
  var waveform = WaveSurfer.create({
    container: container,
    media: audio,
    height: 96,
    waveColor: "#8fb3a5",
    progressColor: "#0b5d3b",
    cursorColor: "#1d2733",
    dragToSeek: true,
    // The page's Content-Security-Policy allows this request's nonce only.
    cspNonce: container.dataset.cspNonce
  });
  waveform.on("error", function () { container.hidden = true; });
  window.ecouteWaveform = waveform;
})();
