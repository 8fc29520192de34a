// A bundled application that did not register its driver: core must say how to fix that.
import { openTopic } from "@portable-pubsub/core";

openTopic("mem://bundled").then(
  () => console.log(JSON.stringify({ opened: true })),
  (err) => console.log(JSON.stringify({ code: err.code, message: err.message })),
);
