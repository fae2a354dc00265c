import { describe, expect, it } from 'vitest';
import {
  basename,
  depth,
  isSelfOrDescendant,
  join,
  parent,
  validatePath,
  validateSequentialPrefix,
  type ZPath,
} from '../../src/tree/path.js';

const P = (s: string): ZPath => s as ZPath;

describe('validatePath accepts', () => {
  it.each([
    '/',
    '/a',
    '/a/b/c',
    '/with space',
    '/dots.in.name',
    '/...',
    '/.hidden',
    '/a-b_c~d',
    '/ünïcödé/日本',
    '/emoji😀',
    '/zookeeper',
    '/' + 'x'.repeat(4095),
  ])('%s', (p) => {
    const r = validatePath(p);
    expect(r.ok).toBe(true);
  });
});

describe('validatePath rejects, saying what to fix', () => {
  it.each([
    ['', 'path must not be empty'],
    ['a/b', "path must start with '/': got 'a/b'"],
    ['/a/', "path must not end with '/': got '/a/'"],
    ['//', "path must not end with '/'"],
    ['/a//b', "path must not contain empty segments ('//'): got '/a//b'"],
    ['//a', "empty segments ('//')"],
    ['/a/./b', "relative segments ('.')"],
    ['/a/..', "relative segments ('..')"],
    ['/..', "relative segments ('..')"],
    ['/a\u0000b', 'control characters: U+0000 at index 2'],
    ['/a\nb', 'U+000A'],
    ['/a\u007f', 'U+007F'],
    ['/a\u0085', 'U+0085'],
    ['/a\u009f', 'U+009F'],
    ['/a\ud800', 'lone surrogate at index 2'],
    ['/a\udc00b', 'lone surrogate at index 2'],
    ['/' + 'x'.repeat(4096), 'path is 4097 UTF-8 bytes; the limit is 4096'],
    ['/' + 'é'.repeat(2048), 'path is 4097 UTF-8 bytes'],
    ['/a'.repeat(257), 'path has 257 segments; the limit is 256'],
  ])('%j', (p, message) => {
    const r = validatePath(p);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('invalidPath');
    expect(r.error.message).toContain(message);
  });

  it('truncates and escapes the echoed path', () => {
    const r = validatePath('x'.repeat(500));
    expect(!r.ok && r.error.message).toMatch(/…' \(500 chars\)$/);
    const c = validatePath('/a\u0001b/');
    expect(!c.ok && c.error.message).toContain('\\u0001');
  });

  it('honours custom limits', () => {
    expect(validatePath('/abcd', { maxPathBytes: 4, maxDepth: 10 }).ok).toBe(false);
    expect(validatePath('/a/b/c', { maxPathBytes: 100, maxDepth: 2 }).ok).toBe(false);
    expect(validatePath('/a/b', { maxPathBytes: 100, maxDepth: 2 }).ok).toBe(true);
  });
});

describe('sequential prefixes', () => {
  it.each([
    ['/locks/lock-', true],
    ['/locks/', true],
    ['/', true],
    ['locks', false],
    ['/a//', false],
  ])('%s → %s', (p, good) => {
    expect(validateSequentialPrefix(p).ok).toBe(good);
  });
});

describe('path helpers', () => {
  it.each([
    ['/', '/', '', 0],
    ['/a', '/', 'a', 1],
    ['/a/b', '/a', 'b', 2],
    ['/a/b/c', '/a/b', 'c', 3],
  ])('%s: parent %s, basename %j, depth %d', (p, par, base, d) => {
    expect(parent(P(p))).toBe(par);
    expect(basename(P(p))).toBe(base);
    expect(depth(P(p))).toBe(d);
    if (p !== '/') expect(join(parent(P(p)), basename(P(p)))).toBe(p);
  });

  it('isSelfOrDescendant respects segment boundaries', () => {
    expect(isSelfOrDescendant(P('/a/b'), P('/a'))).toBe(true);
    expect(isSelfOrDescendant(P('/a'), P('/a'))).toBe(true);
    expect(isSelfOrDescendant(P('/ab'), P('/a'))).toBe(false);
    expect(isSelfOrDescendant(P('/x'), P('/'))).toBe(true);
  });
});
