// What anyone who can publish to a queue, or answer as a broker, can put in front of the operator of `pubsub`:
// text that drives a terminal (retitles it, clears it, hides a hyperlink, reverses what follows). For the tests
// of what the command shows on a terminal and what it writes to a pipe.
import { openSubscription } from "@portable-pubsub/core";
import { openMemTopic, openSubscriptionURL, openTopicURL } from "@portable-pubsub/driver-memory";

/** A body that retitles the terminal, clears the screen, reverses and hides text, and has two lines. */
export const BODY = "hello \x1b]0;PWNED\x07 \x1b[2J\u202eevil\u200b\nsecond line\r\x9b";
/** A body that is not UTF-8, with an escape and DEL among its bytes. */
export const BINARY = [0xff, 0x1b, 0x41, 0x0a, 0x09, 0x7f];
/** An OSC 8 hyperlink to somewhere else. */
export const LINK = "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07";

/**
 * mem:// underneath, under the scheme `hostile`, with a broker that names itself, and a `failing` topic that
 * answers with an error, in control characters.
 */
export const hostileDriver = {
  openTopicURL(url, options) {
    if (url.host === "failing") throw new Error(`the broker says \x1b[2J${LINK}`);
    return openTopicURL(url, options);
  },
  openSubscriptionURL,
  async inspectURL() {
    return {
      broker: "Evil\x1b]0;PWNED\x07MQ",
      checks: [{ subject: "queue", status: "warn", detail: `queue "a\u202eb"\nhas ${LINK}`, fix: "wait\x1b[2J" }],
    };
  },
};

/**
 * Puts the hostile messages where `command` ("receive" or "redrive") reads them, on mem:// topics named after
 * `id`, and returns the command line (after "pubsub") and what to shut down after it ran.
 */
export async function prepare(command, id) {
  if (command === "receive") {
    const url = `mem://receive-${id}?subscription=reader`;
    const topic = openMemTopic(`receive-${id}`);
    await (await openSubscription(url)).shutdown();
    await topic.send({ body: BODY, metadata: { link: LINK } });
    await topic.send({ body: new Uint8Array(BINARY) });
    return { args: ["receive", url, "--count", "2"], done: () => topic.shutdown() };
  }
  const from = `mem://dead-${id}?subscription=redrive`;
  const dead = openMemTopic(`dead-${id}`);
  const target = openMemTopic(`target-${id}`);
  await (await openSubscription(from)).shutdown();
  await dead.send({
    body: BODY,
    metadata: {
      "deadletter.source": "mem://orders\u202e",
      "deadletter.attempts": "3\x1b[2J",
      "deadletter.time": "2026-12-06T20:00:00.000Z\x9b",
      "deadletter.error": `order failed: ${LINK}`,
    },
  });
  return {
    args: ["redrive", from, `mem://target-${id}`, "--dry-run", "--count", "1"],
    done: async () => {
      await dead.shutdown();
      await target.shutdown();
    },
  };
}
