/**
 * The one pino root logger of a process (STYLE.md habit 6). JSON lines by default — what log
 * shippers want — and human-readable lines when stdout is a terminal.
 */
import pino from 'pino';
import type { Logger } from 'pino';

export function rootLogger(level: string, pretty = process.stdout.isTTY): Logger {
  const base = { level, base: { pid: process.pid } };
  if (!pretty) return pino(base);
  return pino(
    base,
    pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } }),
  );
}
