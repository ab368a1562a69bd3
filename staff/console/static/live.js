// The live connection: Server-Sent Events from /staff/api/events (the session cookie goes along).
// EventSource reconnects by itself and sends Last-Event-ID, so the server replays what was missed; the
// server greets every connection with `hello`, and the console refreshes its lists on each one anyway,
// which also covers a connection opened anew after the browser gave up (that one starts from nothing).

const KINDS = ['handoff', 'message', 'delivery', 'note', 'agent', 'csat'];
const MAX_BACKOFF_MS = 30000;

export function connectLive({ onEvent, onHello, onState }) {
  let source = null;
  let backoff = 1000;
  let timer = null;
  let stopped = false;

  function open() {
    if (stopped) return;
    source = new EventSource('/staff/api/events');
    source.addEventListener('hello', () => {
      backoff = 1000;
      onState('live');
      onHello();
    });
    for (const kind of KINDS) {
      source.addEventListener(kind, (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return; // a malformed event is dropped; the next refresh catches up
        }
        onEvent(kind, data);
      });
    }
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (the server answered an error or not text/event-stream): try again later.
        onState('down');
        source.close();
        timer = setTimeout(open, backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      } else {
        onState('reconnecting');
      }
    });
  }

  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (source) source.close();
  };
}
