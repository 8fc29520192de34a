/**
 * Driver loading for the URL mux: a built-in driver package imported by name
 * on first use, once, with the advice to install (or, in a bundle, to
 * register) a package that is missing.
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { invalidArgument } from "./errors.js";
import type { DriverModule } from "./openers.js";

/**
 * Imports a driver package by name, from core's own place first, then from
 * the application's directory, so that a driver installed next to core is
 * found whatever the package manager's layout.
 */
async function defaultImport(pkg: string): Promise<unknown> {
  try {
    return await import(pkg);
  } catch (first) {
    if (!isNotFound(first)) throw first;
    let resolved: string;
    try {
      resolved = createRequire(join(process.cwd(), "package.json")).resolve(pkg);
    } catch {
      throw first;
    }
    return import(pathToFileURL(resolved).href);
  }
}

/** Loads driver packages for a mux, once each, and names the package to install when one is missing. */
export class DriverLoader {
  readonly #importer: (packageName: string) => Promise<unknown>;
  readonly #loaded = new Map<string, Promise<DriverModule>>();

  constructor(importer: (packageName: string) => Promise<unknown>) {
    this.#importer = importer;
  }

  load(pkg: string, scheme: string, operation: string): Promise<DriverModule> {
    let module = this.#loaded.get(pkg);
    if (!module) {
      module = this.#importer(pkg) as Promise<DriverModule>;
      this.#loaded.set(pkg, module);
      module.catch(() => this.#loaded.delete(pkg));
    }
    return module.catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
      if (BUNDLED) {
        throw invalidArgument(
          `${operation}: the ${scheme}:// driver "${pkg}" cannot be imported by name from inside a bundle, where the bundler did not see it; import "${pkg}/register" in the application's entry module (or call defaultURLMux().registerDriver("${scheme}", await import("${pkg}")))`,
          err,
        );
      }
      throw invalidArgument(
        `${operation}: the ${scheme}:// driver is not installed; install it with "npm install ${pkg}" (or pnpm add / yarn add)`,
        err,
      );
    });
  }
}

/**
 * Whether core runs from inside an application's bundle (esbuild, Vite,
 * webpack) rather than from its package's dist folder: there, a driver
 * package imported by name is usually missing because the bundler could not
 * follow the name, so the advice is to register it, not to install it. In a
 * CommonJS bundle `import.meta` is empty, which counts as bundled too.
 */
const BUNDLED = !/\/core\/dist\/driver-loader\.js$/.test(String(import.meta.url));

/** The loader of muxes made without `importDriver`, shared so that each package loads once. */
export const defaultLoader = new DriverLoader(defaultImport);

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND";
}
