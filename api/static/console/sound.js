// The fire alarm's sound, made by Web Audio (no audio file to ship). Browsers let a page play
// sound only after a user gesture: unlockSound() is called from the login click, so the
// AudioContext exists and runs before any fire arrives. After a reload (no click yet) the
// overlay still shows; the sound starts at the operator's first click anywhere.

let context = null;
let timer = null;

export function unlockSound() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  if (!context) context = new Context();
  if (context.state === 'suspended') {
    context.resume().then(() => {
      if (timer !== null) document.documentElement.dataset.alarm = 'sounding';
    }, () => {});
  }
}

// One two-tone beep (960 Hz then 770 Hz, like a fire alarm sounder), 0.8 s long.
function beep() {
  if (!context || context.state !== 'running') return;
  const now = context.currentTime;
  const gain = context.createGain();
  gain.gain.setValueAtTime(0.25, now);
  gain.gain.setValueAtTime(0, now + 0.8);
  gain.connect(context.destination);
  const osc = context.createOscillator();
  osc.type = 'square';
  osc.frequency.setValueAtTime(960, now);
  osc.frequency.setValueAtTime(770, now + 0.4);
  osc.connect(gain);
  osc.start(now);
  osc.stop(now + 0.8);
}

// Sound the alarm every 1.2 s until stopAlarm().
export function startAlarm() {
  if (timer !== null) return;
  // Said on the page, for the operator's screen reader and the browser tests.
  document.documentElement.dataset.alarm = context?.state === 'running' ? 'sounding' : 'blocked';
  beep();
  timer = setInterval(beep, 1200);
  document.addEventListener('click', unlockSound, { once: true });
}

export function stopAlarm() {
  if (timer !== null) clearInterval(timer);
  timer = null;
  delete document.documentElement.dataset.alarm;
}

export function alarmSounding() {
  return timer !== null;
}
