/**
 * Registers this package as the gcppubsub:// driver of the default URL mux, by a
 * static import that a bundler (esbuild, Vite, webpack, a Lambda bundle)
 * follows: `import "@portable-pubsub/driver-gcp/register";` once, in the
 * application's entry module, before the first `openTopic`. Without a bundle,
 * the mux imports the package by name on first use and this is not needed.
 * Importing it after registering gcppubsub:// by hand is AlreadyExists.
 */
import { defaultURLMux } from "@portable-pubsub/core/driver";
import * as driver from "./index.js";
// The typed options of the scheme's URLs (a declaration kept in register.d.ts), for an application that imports only this entry.
import "./url.js";

defaultURLMux().registerDriver("gcppubsub", driver, "@portable-pubsub/driver-gcp");
