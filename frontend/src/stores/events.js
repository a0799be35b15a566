// Server-Sent Events from /api/events, re-dispatched as DOM events named after the server's event kind.
class ServerEvents extends EventTarget {
  #source = null;

  connect() {
    if (this.#source) return;
    this.#source = new EventSource('/api/events');
    // Events sent while the stream was closed are not replayed: views refetch their state on every (re)open.
    this.#source.addEventListener('open', () => this.dispatchEvent(new Event('open')));
    for (const kind of ['upload.progress', 'upload.done', 'scan.progress', 'scan.done', 'analysis.done']) {
      this.#source.addEventListener(kind, (event) => {
        let data = null;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        this.dispatchEvent(new CustomEvent(kind, { detail: data }));
      });
    }
  }

  disconnect() {
    this.#source?.close();
    this.#source = null;
  }
}

export const serverEvents = new ServerEvents();
