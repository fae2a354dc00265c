/** Where the scale sweep puts its znodes (shared by the sweep and its watch worker). */
export const ROOT_PATH = '/scale';
/** Znodes per directory: keeps every children list far below --max-children. */
export const PER_DIR = 1_000;

export function scalePath(i: number): string {
  return `${ROOT_PATH}/d${Math.floor(i / PER_DIR)}/k${i}`;
}
