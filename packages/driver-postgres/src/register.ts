/**
 * Registers this package as the pg:// driver of the default URL mux, by a
 * static import that a bundler (esbuild, Vite, webpack, a Lambda bundle)
 * follows: `import "@portable-pubsub/driver-postgres/register";` once, in
 * the application's entry module, before the first `openTopic`. Without a
 * bundle, the mux imports the package by name on first use and this is not
 * needed. Importing it after registering pg:// by hand is AlreadyExists.
 */
import { defaultURLMux } from "@portable-pubsub/core/driver";
import * as driver from "./index.js";
// Keeps the URL options' types (TopicOptionsByScheme) in this entry's declarations, for applications that only import it.
import "./url.js";

defaultURLMux().registerDriver("pg", driver, "@portable-pubsub/driver-postgres");
