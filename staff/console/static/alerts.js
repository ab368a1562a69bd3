// What catches an agent's attention when a conversation is assigned to them: the tab title's badge and a
// short two-note chime made with Web Audio (no sound file to serve).

const BASE_TITLE = 'chatshop 客服台';
let audio = null;

// Browsers only let a page play sound after the person interacted with it; the context is made then.
function unlock() {
  if (audio) return;
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  try {
    audio = new Context();
  } catch {
    audio = null;
  }
}
window.addEventListener('pointerdown', unlock, { once: true });
window.addEventListener('keydown', unlock, { once: true });

export function chime() {
  if (!audio) return;
  if (audio.state === 'suspended') audio.resume();
  const start = audio.currentTime + 0.01;
  [[880, 0], [1175, 0.14]].forEach(([frequency, offset]) => {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.type = 'sine';
    tone.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.2, start + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.25);
    tone.connect(gain).connect(audio.destination);
    tone.start(start + offset);
    tone.stop(start + offset + 0.3);
  });
}

export function setBadge(count) {
  document.title = count > 0 ? `(${count}) ${BASE_TITLE}` : BASE_TITLE;
}

// Unread markers: per conversation, the last message the agent has seen, kept in this browser only.
export class SeenStore {
  constructor(username) {
    this.key = `chatshop-console:seen:${username}`;
    try {
      this.seen = JSON.parse(localStorage.getItem(this.key) || '{}') || {};
    } catch {
      this.seen = {};
    }
  }

  // A list item is unread when a message newer than the last one seen arrived; without the item's
  // last_message_id, the time of the customer's last message stands in.
  isUnread(item) {
    const mark = this.seen[item.id];
    if (item.last_message_id !== undefined && item.last_message_id !== null) {
      return !mark || (mark.m || 0) < item.last_message_id;
    }
    if (!item.last_customer_at) return !mark;
    return !mark || mark.t !== item.last_customer_at;
  }

  markSeen(conversationId, lastMessageId, lastCustomerAt) {
    const mark = this.seen[conversationId] || {};
    const next = { m: Math.max(mark.m || 0, lastMessageId || 0), t: lastCustomerAt || mark.t || null };
    if (next.m === mark.m && next.t === mark.t) return false;
    this.seen[conversationId] = next;
    const ids = Object.keys(this.seen);
    // Keep the store small: the oldest conversations' marks go first.
    if (ids.length > 500) ids.slice(0, ids.length - 500).forEach((id) => delete this.seen[id]);
    try {
      localStorage.setItem(this.key, JSON.stringify(this.seen));
    } catch {
      // storage full or disabled: markers then last for this page only
    }
    return true;
  }
}
