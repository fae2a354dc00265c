/**
 * Copies of small byte arrays carved out of shared slabs: one ArrayBuffer per SLAB_BYTES instead
 * of one per copy. V8 spends a few hundred bytes and a GC-tracked extension on every ArrayBuffer —
 * more than a typical znode payload (~100 B) — so restoring a million znodes with one buffer
 * each costs ~1M ArrayBuffers of memory and sweeping. The trade is the one Node's Buffer pool
 * makes (8 KiB): a slab stays alive while any copy cut from it does, so at most the bytes copied
 * into slabs can be pinned by survivors. Meant for bulk loads (a restore), not for the churn of
 * individual writes, where one long-lived copy could pin a whole slab of dead ones.
 */
export const SLAB_BYTES = 8192;
/** Larger arrays get a buffer of their own. */
export const MAX_SLABBED_BYTES = 512;

export class ByteSlab {
  private slab = new Uint8Array(0);
  private used = 0;

  /** A copy of `src`; it may share its ArrayBuffer with other copies (respect byteOffset). */
  copy(src: Uint8Array): Uint8Array {
    const n = src.length;
    if (n > MAX_SLABBED_BYTES) return new Uint8Array(src);
    if (this.used + n > this.slab.length) {
      this.slab = new Uint8Array(SLAB_BYTES);
      this.used = 0;
    }
    const out = this.slab.subarray(this.used, this.used + n);
    out.set(src);
    this.used += n;
    return out;
  }
}
