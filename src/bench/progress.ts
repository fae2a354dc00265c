/** A one-line progress bar on stderr (only when stderr is a terminal, or when forced). */
export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    /** Returns [done, total] in whatever unit the workload runs (ms or ops). */
    private readonly sample: () => readonly [number, number, number],
  ) {
    this.enabled = process.stderr.isTTY || process.env['ARBOR_BENCH_PROGRESS'] === '1';
  }

  start(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => this.draw(), 200);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.enabled) {
      this.draw();
      process.stderr.write('\n');
    }
  }

  private draw(): void {
    const [done, total, ops] = this.sample();
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const width = 30;
    const filled = Math.round(frac * width);
    process.stderr.write(
      `\r${this.label.padEnd(28)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${ops} ops`,
    );
  }
}
