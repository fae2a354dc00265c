import { describe, expect, it } from 'vitest';
import { escapeDnValue, subjectOf, type CallLike } from '../../src/api/auth-gate.js';

const callWith = (subject: object | undefined): CallLike =>
  ({
    getAuthContext: () => ({ sslPeerCertificate: subject === undefined ? undefined : { subject } }),
  }) as unknown as CallLike;

describe('x509 subjects', () => {
  it('escapes RFC 4514 specials so one value never reads as several attributes', () => {
    expect(escapeDnValue('a,CN=x')).toBe('a\\,CN\\=x');
    expect(escapeDnValue('x+y;"z"<w>\\')).toBe('x\\+y\\;\\"z\\"\\<w\\>\\\\');
    expect(escapeDnValue('#tag')).toBe('\\#tag');
    expect(escapeDnValue(' lead and trail ')).toBe('\\ lead and trail\\ ');
    expect(escapeDnValue('plain alice')).toBe('plain alice');
  });

  it('a forged-looking value and real attributes give different identities', () => {
    const forged = subjectOf(callWith({ O: 'a,CN=root' }));
    const real = subjectOf(callWith({ O: 'a', CN: 'root' }));
    expect(forged).toBe('O=a\\,CN\\=root');
    expect(real).toBe('O=a,CN=root');
    expect(forged).not.toBe(real);
    expect(subjectOf(callWith({ OU: ['b', 'a'], CN: 'x' }))).toBe('OU=b,OU=a,CN=x');
    expect(subjectOf(callWith(undefined))).toBeUndefined();
  });
});
