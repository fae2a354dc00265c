/**
 * Which watchers an event concerns. Node and children watches are separate indexes keyed by
 * path (as ZooKeeper keeps data watches and child watches apart); subtree watches are found by
 * walking the event path's ancestors, so matching costs O(depth) whatever the watch count.
 */
import { ROOT, type ZPath } from './path.js';
import type { TreeEvent } from './events.js';

export type WatchScope = 'node' | 'children' | 'subtree';

interface Registration {
  readonly path: string;
  readonly scope: WatchScope;
}

export class WatchIndex<W = number> {
  private readonly byNode = new Map<string, Set<W>>();
  private readonly byChildren = new Map<string, Set<W>>();
  private readonly bySubtree = new Map<string, Set<W>>();
  private readonly registrations = new Map<W, Registration>();

  get size(): number {
    return this.registrations.size;
  }

  /** One registration per watcher id; registering again replaces the previous one. */
  register(id: W, path: ZPath, scope: WatchScope): void {
    this.unregister(id);
    this.registrations.set(id, { path, scope });
    const m = this.indexOf(scope);
    let s = m.get(path);
    if (s === undefined) {
      s = new Set();
      m.set(path, s);
    }
    s.add(id);
  }

  unregister(id: W): boolean {
    const r = this.registrations.get(id);
    if (r === undefined) return false;
    this.registrations.delete(id);
    const m = this.indexOf(r.scope);
    const s = m.get(r.path);
    if (s !== undefined) {
      s.delete(id);
      if (s.size === 0) m.delete(r.path);
    }
    return true;
  }

  /** Watchers interested in the event, each once. */
  match(e: Pick<TreeEvent, 'type' | 'path'>): W[] {
    const out: W[] = [];
    const p = e.path;
    const node = this.byNode.get(p);
    if (node !== undefined) for (const id of node) out.push(id);
    const cut = p.lastIndexOf('/');
    if (e.type !== 'updated' && p !== ROOT && this.byChildren.size > 0) {
      const ch = this.byChildren.get(cut === 0 ? ROOT : p.slice(0, cut));
      if (ch !== undefined) for (const id of ch) out.push(id);
    }
    if (this.bySubtree.size > 0) {
      // p itself, then each ancestor down to the root.
      let end = p.length;
      for (;;) {
        const sub = this.bySubtree.get(end === 0 ? ROOT : end === p.length ? p : p.slice(0, end));
        if (sub !== undefined) for (const id of sub) out.push(id);
        if (end === 0 || p === ROOT) break;
        end = p.lastIndexOf('/', end - 1);
      }
    }
    return out;
  }

  private indexOf(scope: WatchScope): Map<string, Set<W>> {
    switch (scope) {
      case 'node':
        return this.byNode;
      case 'children':
        return this.byChildren;
      case 'subtree':
        return this.bySubtree;
    }
  }
}
