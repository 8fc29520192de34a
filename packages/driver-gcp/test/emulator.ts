/**
 * The Google Pub/Sub emulator for a test file: started on a free port before
 * the file's tests, stopped (with its whole process group) after them. With
 * CI=true a failure to start fails the file; otherwise its tests are skipped.
 */
import { afterAll } from "vitest";
import { type Emulator, startEmulator } from "./launch-emulator.mjs";

export type { Emulator };

/**
 * Starts an emulator for the calling test file and stops it after the file.
 * Returns undefined (the file should skip) when it cannot start, unless
 * CI=true, where that failure is thrown and fails the file.
 */
export async function emulatorForTests(): Promise<Emulator | undefined> {
  let emulator: Emulator;
  try {
    emulator = await startEmulator();
  } catch (err) {
    if (process.env.CI === "true") throw err;
    console.warn(`skipping: ${String(err)}`);
    return undefined;
  }
  afterAll(() => emulator.stop());
  return emulator;
}
