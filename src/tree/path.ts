/**
 * Znode paths: absolute, '/'-separated, validated once at the boundary and then trusted
 * (STYLE.md habit 2). Rules follow ZooKeeper's PathUtils.validatePath, plus explicit byte and
 * depth bounds so one request cannot make every replica allocate without limit.
 */
import type { Brand } from '../util/brand.js';
import { err, ok, type Result } from '../util/result.js';
import { treeError, type TreeError } from './errors.js';

export type ZPath = Brand<string, 'ZPath'>;

export const ROOT = '/' as ZPath;

export interface PathLimits {
  readonly maxPathBytes: number;
  readonly maxDepth: number;
}

const DEFAULT_PATH_LIMITS: PathLimits = { maxPathBytes: 4096, maxDepth: 256 };

/** Digits appended to a sequential znode's name (ZooKeeper: %010d of the parent counter). */
export const SEQUENCE_DIGITS = 10;

/** A short, printable rendering of untrusted text for error messages. */
export function quote(raw: string, max = 80): string {
  const cut = raw.length > max ? raw.slice(0, max) : raw;
  let out = '';
  for (let i = 0; i < cut.length; i++) {
    const c = cut.charCodeAt(i);
    if (isControl(c) || (c >= 0xd800 && c <= 0xdfff && !isPairAt(cut, i))) {
      out += `\\u${c.toString(16).padStart(4, '0')}`;
    } else if (c >= 0xd800 && c <= 0xdbff) {
      out += cut.slice(i, i + 2);
      i++;
    } else {
      out += cut[i] ?? '';
    }
  }
  return `'${out}${raw.length > max ? `…' (${raw.length} chars)` : "'"}`;
}

function isControl(c: number): boolean {
  return c <= 0x1f || (c >= 0x7f && c <= 0x9f);
}

function isPairAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = s.charCodeAt(i + 1);
    return d >= 0xdc00 && d <= 0xdfff;
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const b = s.charCodeAt(i - 1);
    return i > 0 && b >= 0xd800 && b <= 0xdbff;
  }
  return false;
}

function bad(message: string, raw: string): Result<ZPath, TreeError> {
  return err(treeError('invalidPath', message, raw));
}

/** Validates an absolute znode path. One pass over the string; no allocation on success. */
export function validatePath(
  raw: string,
  limits: PathLimits = DEFAULT_PATH_LIMITS,
): Result<ZPath, TreeError> {
  if (raw.length === 0) return bad("path must not be empty: use '/' for the root", raw);
  if (raw.charCodeAt(0) !== 0x2f) return bad(`path must start with '/': got ${quote(raw)}`, raw);
  if (raw.length === 1) return ok(ROOT);
  if (raw.charCodeAt(raw.length - 1) === 0x2f) {
    return bad(`path must not end with '/': got ${quote(raw)}; remove the trailing '/'`, raw);
  }
  let bytes = 0;
  let depth = 0;
  let segStart = 0; // index of the '/' opening the current segment
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x2f) {
      if (i > 0) {
        const e = checkSegment(raw, segStart, i);
        if (e !== undefined) return e;
      }
      depth++;
      segStart = i;
      bytes += 1;
    } else if (isControl(c)) {
      return bad(
        `path must not contain control characters: U+${c.toString(16).toUpperCase().padStart(4, '0')} at index ${i} of ${quote(raw)}`,
        raw,
      );
    } else if (c < 0x80) {
      bytes += 1;
    } else if (c < 0x800) {
      bytes += 2;
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const d = raw.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) {
        return bad(`path must be valid UTF-16: lone surrogate at index ${i} of ${quote(raw)}`, raw);
      }
      bytes += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return bad(`path must be valid UTF-16: lone surrogate at index ${i} of ${quote(raw)}`, raw);
    } else {
      bytes += 3;
    }
  }
  const e = checkSegment(raw, segStart, raw.length);
  if (e !== undefined) return e;
  if (bytes > limits.maxPathBytes) {
    return bad(`path is ${bytes} UTF-8 bytes; the limit is ${limits.maxPathBytes}: use a shorter path`, raw);
  }
  if (depth > limits.maxDepth) {
    return bad(`path has ${depth} segments; the limit is ${limits.maxDepth}: use a shallower path`, raw);
  }
  return ok(raw as ZPath);
}

/** The segment is raw[slash+1, end). */
function checkSegment(raw: string, slash: number, end: number): Result<ZPath, TreeError> | undefined {
  const len = end - slash - 1;
  if (len === 0) return bad(`path must not contain empty segments ('//'): got ${quote(raw)}`, raw);
  if (
    raw.charCodeAt(slash + 1) === 0x2e &&
    (len === 1 || (len === 2 && raw.charCodeAt(slash + 2) === 0x2e))
  ) {
    const seg = len === 1 ? '.' : '..';
    return bad(`path must not contain relative segments ('${seg}'): got ${quote(raw)}`, raw);
  }
  return undefined;
}

/**
 * Validates the path a sequential create will produce: `raw` is a prefix to which the 10-digit
 * suffix is appended, so '/locks/lock-' and even '/locks/' are fine (as in ZooKeeper).
 */
export function validateSequentialPrefix(
  raw: string,
  limits: PathLimits = DEFAULT_PATH_LIMITS,
): Result<string, TreeError> {
  const r = validatePath(raw + '0'.repeat(SEQUENCE_DIGITS), limits);
  return r.ok ? ok(raw) : r;
}

/** The parent of `p`; the parent of the root is the root (like POSIX dirname). */
export function parent(p: ZPath): ZPath {
  const i = p.lastIndexOf('/');
  return i <= 0 ? ROOT : (p.slice(0, i) as ZPath);
}

/** The last segment of `p` ('' for the root). */
export function basename(p: ZPath): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** `parent` + '/' + `name`. `name` must be a valid single segment (not checked here). */
export function join(parentPath: ZPath, name: string): ZPath {
  return (parentPath.length === 1 ? '/' + name : parentPath + '/' + name) as ZPath;
}

/** Number of segments ('/' is 0). */
export function depth(p: ZPath): number {
  if (p.length === 1) return 0;
  let n = 0;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) === 0x2f) n++;
  return n;
}

/** True if `p` is `ancestor` or lies below it. */
export function isSelfOrDescendant(p: ZPath, ancestor: ZPath): boolean {
  if (ancestor.length === 1) return true;
  return p === ancestor || (p.startsWith(ancestor) && p.charCodeAt(ancestor.length) === 0x2f);
}

/** Zero-padded sequence suffix (ZooKeeper's String.format("%010d")). */
export function sequenceSuffix(n: number): string {
  return String(n).padStart(SEQUENCE_DIGITS, '0');
}
